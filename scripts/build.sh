#!/usr/bin/env bash
# Configures and builds mega-fuse into build/ (or $BUILD_DIR); BUILD_TARGETS limits what is built.
# Extra args go to cmake, e.g.
#   scripts/build.sh -DMEGAFUSE_SANITIZE=address,undefined
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "$@" >/dev/null
# shellcheck disable=SC2086  # BUILD_TARGETS is a word list on purpose
ninja -C "$BUILD_DIR" -j"$(nproc)" ${BUILD_TARGETS:-}
