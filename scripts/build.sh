#!/usr/bin/env bash
# Configures and builds mega-fuse into build/ (or $BUILD_DIR); BUILD_TARGETS limits what is built.
# Extra args go to cmake, e.g.
#   scripts/build.sh -DMEGAFUSE_SANITIZE=address,undefined
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
# /usr: where packages install (cpack) and where systemd and dbus find the unit; also for old
# build dirs configured before it was the default.
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DCMAKE_INSTALL_PREFIX=/usr "$@" >/dev/null
# shellcheck disable=SC2086  # BUILD_TARGETS is a word list on purpose
ninja -C "$BUILD_DIR" -j"$(nproc)" ${BUILD_TARGETS:-}
