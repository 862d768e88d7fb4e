#!/usr/bin/env bash
# Static analysis of the project's own code (issue 7): clang-tidy with the repo's .clang-tidy and
# cppcheck, both driven by compile_commands.json of a build dir (build-lint/ unless $BUILD_DIR).
# Exits non-zero on any finding of either tool; both always run so one pass shows everything.
# Extra args are regexes limiting the files clang-tidy checks (e.g. scripts/lint.sh daemon/fs/).
# Cost: cppcheck ~10 CPU-s for everything; clang-tidy 5-45 CPU-s per file (~130 files), so a
# whole pass is ~30 min on 2 cores: CI can check the files a change touches by passing them.
#
#   LINT_JOBS=2     parallel clang-tidy / cppcheck processes
#   LINT_SKIP=tidy  skip clang-tidy (or LINT_SKIP=cppcheck)
#
# Suppressing a finding: fix it; else `// NOLINT(check): why` or `// cppcheck-suppress id` with
# the reason on the same line, never a blanket one.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BUILD_DIR=${BUILD_DIR:-build-lint}
jobs=${LINT_JOBS:-2}
skip=${LINT_SKIP:-}

# Configure without building: the analysers need only the compile commands and the D-Bus adaptor
# and proxy headers generated from the XML contract.
if [ ! -f "$BUILD_DIR/compile_commands.json" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
fi
ninja -C "$BUILD_DIR" megafuse_dbus_generated >/dev/null

# The project's own sources; generated code lives in the build dir and never matches.
sources="^$root/(daemon|config|ctl|dbus|tests)/.*\\.cpp\$"
if [ $# -gt 0 ]; then
  sources="^$root/($(IFS='|'; echo "$*"))(.*\\.cpp)?\$"
fi

status=0
if [ "$skip" != tidy ]; then
  echo "== clang-tidy (.clang-tidy, $jobs jobs) =="
  if command -v run-clang-tidy-14 >/dev/null; then
    # run-clang-tidy prints each command line and per-file counts, always in colour; keep only
    # the diagnostics, as plain text.
    set +e
    run-clang-tidy-14 -clang-tidy-binary clang-tidy-14 -p "$BUILD_DIR" -j "$jobs" -quiet \
      "$sources" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' |
      grep -v -E '^(clang-tidy-14 |[0-9]+ warnings? (and [0-9]+ errors? )?generated|Suppressed [0-9]+ warnings|Use -header-filter|Running clang-tidy for)'
    status_tidy=${PIPESTATUS[0]}
    set -e
  else
    python3 -c 'import json,re,sys; [print(e["file"]) for e in json.load(open(sys.argv[1])) if re.search(sys.argv[2], e["file"])]' \
      "$BUILD_DIR/compile_commands.json" "$sources" | sort -u |
      xargs -r -P "$jobs" -n 1 clang-tidy -p "$BUILD_DIR" --quiet && status_tidy=0 || status_tidy=$?
  fi
  [ "$status_tidy" -eq 0 ] || { echo "clang-tidy: findings (exit $status_tidy)"; status=1; }
fi

if [ "$skip" != cppcheck ]; then
  echo "== cppcheck =="
  mkdir -p "$BUILD_DIR/cppcheck"
  # Findings in system and third-party headers (/usr) and in generated code are not ours; the
  # rest of what is not checked is in .cppcheck-suppressions, each with its reason.
  cppcheck --project="$BUILD_DIR/compile_commands.json" \
    --enable=warning,performance,portability --library=posix,gnu,googletest,sqlite3,libcurl \
    --inline-suppr --suppressions-list=.cppcheck-suppressions --error-exitcode=1 --quiet -j "$jobs" \
    --cppcheck-build-dir="$BUILD_DIR/cppcheck" \
    --suppress='*:/usr/*' --suppress="*:$(realpath "$BUILD_DIR")/*" \
    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' ||
    { echo "cppcheck: findings"; status=1; }
fi
exit "$status"
