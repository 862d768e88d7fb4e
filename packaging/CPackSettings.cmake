# CPack: one .deb and one .rpm from the same install tree (`cpack -G "DEB;RPM"` in the build
# directory, or scripts/package.sh). Library dependencies are computed (dpkg-shlibdeps, rpm's
# find-requires); what the daemon runs rather than links is listed by hand.
set(MEGAFUSE_PACKAGING_DIR ${CMAKE_CURRENT_LIST_DIR})
# cpack and `cmake --install` install what is built and build nothing themselves (the whole
# test suite otherwise): build mega-fused, megactl and megafuse_package_files first.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)

set(CPACK_PACKAGE_NAME mega-fuse)
set(CPACK_PACKAGE_VENDOR "mega-fuse")
set(CPACK_PACKAGE_CONTACT "mega-fuse maintainers <maintainers@users.noreply.r-seed-c21b65c6.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "FUSE client for huge Git monorepos")
set(CPACK_PACKAGE_DESCRIPTION
    "mega-fuse shows a revision of a Git repository (a Mega monorepo, any Git
server or a local repository) as a directory tree at once; file contents
travel only when a file is read.
.
mega-fused is a per-user daemon (a systemd user unit, D-Bus activated) that
mounts the revisions listed in ~/.config/mega-fuse/config.yaml; megactl lists,
mounts and unmounts them over D-Bus.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_SOURCE_IGNORE_FILES "/build.*/" "/\\\\.git/")

# Debian: a native package (upstream ships the packaging), so no revision and changelog.gz.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# fuse3: the setuid fusermount3 for unprivileged mounts; git: partial clones and fetches;
# a session bus for the D-Bus API and activation; init-system-helpers >= 1.52 for
# deb-systemd-helper --user in the maintainer scripts (as dh_installsystemduser adds it).
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "fuse3, git, default-dbus-session-bus | dbus-session-bus, init-system-helpers (>= 1.52)")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${MEGAFUSE_PACKAGING_DIR}/deb/postinst
                                       ${MEGAFUSE_PACKAGING_DIR}/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# RPM: the %systemd_user_* macros' logic as scriptlets; library requires from rpmbuild.
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_LICENSE "LicenseRef-not-yet-chosen")
set(CPACK_RPM_PACKAGE_GROUP "Applications/System")
string(REPLACE "\n.\n" "\n\n" CPACK_RPM_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_RPM_SPEC_MORE_DEFINE "%define packager ${CPACK_PACKAGE_CONTACT}")
set(CPACK_RPM_PACKAGE_REQUIRES "fuse3, git-core, dbus")
set(CPACK_RPM_PACKAGE_REQUIRES_POST "systemd")
set(CPACK_RPM_PACKAGE_REQUIRES_PREUN "systemd")
set(CPACK_RPM_POST_INSTALL_SCRIPT_FILE ${MEGAFUSE_PACKAGING_DIR}/rpm/post)
set(CPACK_RPM_PRE_UNINSTALL_SCRIPT_FILE ${MEGAFUSE_PACKAGING_DIR}/rpm/preun)
set(CPACK_RPM_CHANGELOG_FILE ${MEGAFUSE_PACKAGING_DIR}/rpm/changelog)
# Directories the filesystem package owns, not us.
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /usr/lib/systemd /usr/lib/systemd/user /usr/share/dbus-1 /usr/share/dbus-1/services
    /usr/share/dbus-1/interfaces
    /usr/share/bash-completion /usr/share/bash-completion/completions
    /usr/share/man /usr/share/man/man1 /usr/share/man/man5 /usr/share/man/man8 /usr/share/doc)

include(CPack)
