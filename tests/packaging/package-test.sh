#!/usr/bin/env bash
# The packages, end to end: cpack builds mega-fuse_*.deb and mega-fuse-*.rpm from BUILD_DIR;
# lintian and rpmlint pass (allow-list: packaging/rpm/rpmlint.toml); the .rpm's files and
# requirements are right; `apt-get install ./mega-fuse_*.deb` installs the daemon, megactl, the user
# unit (enabled for all users), the activation file, man pages, completion and docs; megactl
# --version runs; a real systemd --user starts the installed unit by itself (default.target) and
# it mounts the configured repository; `apt-get purge` then leaves the machine as it was.
#
# Usage: package-test.sh BUILD_DIR   (root; runs itself in `unshare -m`). The EXIT trap stops the
# user manager and purges the package in every outcome.
set -euo pipefail

BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
if [ "${MEGAFUSE_PACKAGE_TEST_NS:-}" != 1 ]; then
  exec env MEGAFUSE_PACKAGE_TEST_NS=1 unshare --mount --propagation private -- "$0" "$@"
fi

T=$(mktemp -d /tmp/megafuse-package.XXXXXX)
# shellcheck source=../integration/systemd/user-manager.bash
. "$SRC/tests/integration/systemd/user-manager.bash"
INSTALLED_BY_US=0
APT=(apt-get -y -qq -o DPkg::Lock::Timeout=300)
export DEBIAN_FRONTEND=noninteractive

log() { printf '== %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  [ -f "$T/daemon.log" ] && { echo "--- daemon.log (tail)"; tail -n 30 "$T/daemon.log"; } >&2
  exit 1
}
cleanup() {
  local status=$?
  set +e
  usermgr_stop
  if [ "$INSTALLED_BY_US" = 1 ] && dpkg-query -W -f='${db:Status-Status}' mega-fuse 2>/dev/null |
    grep -qv '^not-installed$'; then
    "${APT[@]}" purge mega-fuse >/dev/null 2>&1 || dpkg --purge mega-fuse >/dev/null 2>&1
  fi
  rm -rf "$T"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# What the package touches outside its own files; compared before install and after purge.
snapshot() {
  find /etc/systemd/user /usr/lib/systemd/user /usr/share/dbus-1/services \
    /var/lib/systemd/deb-systemd-user-helper-enabled /var/lib/systemd/deb-systemd-user-helper-masked \
    /var/lib/systemd/deb-systemd-helper-enabled /usr/share/doc/mega-fuse /usr/share/man/man1/megactl.1.gz \
    /usr/bin/mega-fused /usr/bin/megactl /usr/share/bash-completion/completions/megactl \
    2>/dev/null | sort
  dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 2>/dev/null | grep ' mega-fuse$' || true
}

if dpkg-query -W -f='${db:Status-Status}' mega-fuse 2>/dev/null | grep -qv '^not-installed$'; then
  fail "mega-fuse is already installed on this machine; the test will not replace it"
fi
grep -q '^CMAKE_INSTALL_PREFIX:PATH=/usr$' "$BUILD/CMakeCache.txt" ||
  fail "$BUILD is not configured with CMAKE_INSTALL_PREFIX=/usr (scripts/build.sh does it)"

# 1. Build both packages from the same build.
cmake --build "$BUILD" --target mega-fused megactl megafuse_package_files >"$T/build.log" 2>&1 ||
  fail "build: $(tail -n 20 "$T/build.log")"
(cd "$BUILD" && cpack --config CPackConfig.cmake -G "DEB;RPM" -B "$T/out") >"$T/cpack.log" 2>&1 ||
  fail "cpack: $(tail -n 20 "$T/cpack.log")"
DEB=$(echo "$T"/out/mega-fuse_*.deb)
RPM=$(echo "$T"/out/mega-fuse-*.rpm)
[ -f "$DEB" ] && [ -f "$RPM" ] || fail "cpack made no .deb/.rpm: $(ls "$T/out")"
log "built $(basename "$DEB") and $(basename "$RPM")"

# 2. lintian: no tag at all, down to pedantic (no allow-list needed today).
lintian --fail-on error,warning,info,pedantic --info --pedantic "$DEB" >"$T/lintian.log" 2>&1 ||
  fail "lintian: $(grep -v '^N:' "$T/lintian.log")"
log "lintian: clean ($(grep -c '^[EWIP]:' "$T/lintian.log" || true) tags)"

# 3. The .rpm: files, requirements, scriptlets, rpmlint with the allow-list.
files=$(rpm -qpl "$RPM")
for f in /usr/bin/mega-fused /usr/bin/megactl /usr/lib/systemd/user/mega-fuse.service \
  /usr/share/dbus-1/services/com.gitmega.MegaFuse1.service /usr/share/man/man1/megactl.1.gz \
  /usr/share/man/man8/mega-fused.8.gz /usr/share/man/man5/mega-fuse.yaml.5.gz \
  /usr/share/bash-completion/completions/megactl \
  /usr/share/doc/mega-fuse/copyright /usr/share/doc/mega-fuse/examples/config.yaml; do
  grep -qx "$f" <<<"$files" || fail "the .rpm lacks $f"
done
requires=$(rpm -qpR "$RPM")
for r in fuse3 git-core dbus 'libfuse3.so.3()(64bit)' 'libsystemd.so.0()(64bit)'; do
  grep -qxF "$r" <<<"$requires" || fail "the .rpm does not require $r"
done
rpm -qp --scripts "$RPM" | grep -q 'preset --global mega-fuse.service' || fail "no %post preset"
if command -v rpmlint >/dev/null; then
  rpmlint -c "$SRC/packaging/rpm/rpmlint.toml" "$RPM" >"$T/rpmlint.log" 2>&1 || true
  grep -q ' 0 errors, 0 warnings' "$T/rpmlint.log" || fail "rpmlint: $(cat "$T/rpmlint.log")"
  log "rpmlint: $(grep -o '[0-9]* errors, [0-9]* warnings' "$T/rpmlint.log")"
else
  log "rpmlint not installed: skipped"
fi

# 4. Install the .deb on this machine. Its activation file lands in a copy of
# /usr/share/dbus-1/services private to this namespace: every session bus on the machine reads
# that folder, and a test elsewhere that expects "mega-fused is not running" must not get it
# activated meanwhile (RUN_SERIAL keeps ctest's own tests apart; this covers any other runner).
cp -a /usr/share/dbus-1/services "$T/dbus-services"
mount -t tmpfs tmpfs /usr/share/dbus-1/services
cp -a "$T/dbus-services/." /usr/share/dbus-1/services/
before=$(snapshot)
INSTALLED_BY_US=1
"${APT[@]}" install --no-install-recommends "$DEB" >"$T/apt.log" 2>&1 ||
  fail "apt-get install: $(tail -n 20 "$T/apt.log")"
for f in /usr/bin/mega-fused /usr/bin/megactl /usr/lib/systemd/user/mega-fuse.service \
  /usr/share/dbus-1/services/com.gitmega.MegaFuse1.service /usr/share/man/man1/megactl.1.gz \
  /usr/share/man/man8/mega-fused.8.gz /usr/share/man/man5/mega-fuse.yaml.5.gz \
  /usr/share/bash-completion/completions/megactl \
  /usr/share/doc/mega-fuse/copyright /usr/share/doc/mega-fuse/changelog.gz \
  /usr/share/doc/mega-fuse/examples/config.yaml /usr/share/doc/mega-fuse/operations.md; do
  [ -f "$f" ] || fail "not installed: $f"
done
[ "$(readlink /etc/systemd/user/default.target.wants/mega-fuse.service)" = \
  /usr/lib/systemd/user/mega-fuse.service ] || fail "postinst did not enable the unit for all users"
grep -qx 'ExecStart=/usr/bin/mega-fused' /usr/lib/systemd/user/mega-fuse.service ||
  fail "the installed unit does not run /usr/bin/mega-fused"
version=$(/usr/bin/megactl --version)
[ "$version" = "megactl $(dpkg-query -W -f='${Version}' mega-fuse)" ] || fail "megactl --version: $version"
/usr/bin/mega-fused --version >/dev/null || fail "mega-fused --version"
log "installed; $version; unit enabled for all users"

# 5. A user's first login: the installed, enabled unit starts by itself and mounts.
usermgr_env "$T"
mkdir -p "$XDG_CONFIG_HOME/mega-fuse" "$XDG_CONFIG_HOME/systemd/user/mega-fuse.service.d" "$T/mnt/demo"
git init -q -b main "$T/repo"
echo hello >"$T/repo/hello.txt"
git -C "$T/repo" add hello.txt
git -C "$T/repo" -c user.name=t -c user.email=t@example.com commit -qm first
printf 'mounts:\n  - name: demo\n    source: %s\n    mountpoint: %s\n' "$T/repo" "$T/mnt/demo" \
  >"$XDG_CONFIG_HOME/mega-fuse/config.yaml"
# Only to see the daemon's log here: the namespace has no journald.
printf '[Service]\nStandardOutput=append:%s\nStandardError=append:%s\n' "$T/daemon.log" "$T/daemon.log" \
  >"$XDG_CONFIG_HOME/systemd/user/mega-fuse.service.d/log.conf"
usermgr_start "$T/manager.log" || fail "the user manager did not come up"
prop() { timeout 30 systemctl --user show -p "$1" --value mega-fuse.service; }
prop_is() { [ "$(prop "$1")" = "$2" ]; }
wait_for 30 prop_is ActiveState active ||
  fail "the enabled unit did not start with the user manager: $(prop ActiveState)"
[ "$(prop FragmentPath)" = /usr/lib/systemd/user/mega-fuse.service ] ||
  fail "not the installed unit: $(prop FragmentPath)"
[ "$(prop UnitFileState)" = enabled ] || fail "UnitFileState: $(prop UnitFileState)"
[ "$(cat "$T/mnt/demo/hello.txt")" = hello ] || fail "the installed daemon does not serve demo"
out=$(/usr/bin/megactl list)
grep -q '^demo .*mounted' <<<"$out" || fail "megactl list: $out"
log "installed unit started at login (StatusText '$(prop StatusText)'), demo mounted"
usermgr_stop
[ -z "$(fuse_mounts)" ] || fail "mounts left after stop: $(fuse_mounts)"

# 6. Purge: nothing left behind.
"${APT[@]}" purge mega-fuse >"$T/purge.log" 2>&1 || fail "apt-get purge: $(tail -n 20 "$T/purge.log")"
INSTALLED_BY_US=0
after=$(snapshot)
[ "$before" = "$after" ] || fail "purge left changes behind: $(diff <(echo "$before") <(echo "$after"))"
log "purged; the machine is as before"
log "PASS"
