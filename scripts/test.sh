#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit + integration with real FUSE mounts,
# real git daemon and smart-HTTP servers on 127.0.0.1). Needs root for /dev/fuse (see README).
# Ends with ctest's summary; exit status is ctest's.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 -j2 "$@"
