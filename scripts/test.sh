#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit + integration with real FUSE mounts,
# real git daemon and smart-HTTP servers on 127.0.0.1, real dbus-daemon, real systemd user
# manager). Needs root for /dev/fuse (see README). Ends with ctest's summary; exit status is
# ctest's. Extra args go to ctest (e.g. -R Overlay).
#
#   MEGAFUSE_SANITIZE=address,undefined scripts/test.sh   the same suite under ASan+UBSan, in
#                                                          build-asan/ (CI runs both)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake_args=()
if [ -n "${MEGAFUSE_SANITIZE:-}" ]; then
  export BUILD_DIR="${BUILD_DIR:-build-${MEGAFUSE_SANITIZE%%,*}}"
  export BUILD_TYPE="${BUILD_TYPE:-Debug}"
  cmake_args+=("-DMEGAFUSE_SANITIZE=${MEGAFUSE_SANITIZE}")
  # Every test and every daemon it starts: fail on the first report, with known-library leaks
  # suppressed (each entry of tests/lsan.supp says why).
  export ASAN_OPTIONS="abort_on_error=0:detect_leaks=1:${ASAN_OPTIONS:-}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
  # TSan (MEGAFUSE_SANITIZE=thread, build-thread/): the same, with reports inside uninstrumented
  # libraries suppressed (each entry of tests/tsan.supp says why).
  export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1:${TSAN_OPTIONS:-}"
fi
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:${LSAN_OPTIONS:-}"
scripts/build.sh "${cmake_args[@]}"
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 -j2 "$@"
