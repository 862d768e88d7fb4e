#!/usr/bin/env bash
# Builds the .deb and the .rpm (CPack, settings in packaging/CPackSettings.cmake) into
# build/packages/ (or $BUILD_DIR/packages/): the daemon, megactl, the systemd user unit, the D-Bus
# activation file, man pages, completion, docs. Checks them with lintian (and rpmlint if present).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TARGETS="mega-fused megactl megafuse_package_files" scripts/build.sh "$@"
rm -rf "$BUILD_DIR/packages"
(cd "$BUILD_DIR" && cpack --config CPackConfig.cmake -G "DEB;RPM" -B "$PWD/packages") \
  >"$BUILD_DIR/cpack.log" 2>&1 || { tail -n 20 "$BUILD_DIR/cpack.log" >&2; exit 1; }
rm -rf "$BUILD_DIR/packages/_CPack_Packages"
if command -v lintian >/dev/null; then
  lintian --info --pedantic "$BUILD_DIR"/packages/*.deb 2>/dev/null || true
fi
if command -v rpmlint >/dev/null; then
  rpmlint -c packaging/rpm/rpmlint.toml "$BUILD_DIR"/packages/*.rpm | tail -n 1 || true
fi
ls -1 "$BUILD_DIR"/packages/*.deb "$BUILD_DIR"/packages/*.rpm
