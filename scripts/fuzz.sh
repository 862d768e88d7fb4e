#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan+UBSan) into build-fuzz/ and runs
# each one for a bounded time over its seed corpus (tests/fuzz/corpus/<target>/, never written):
# prints "<target>: N inputs tried in S s, C crashes" per target and exits non-zero when any
# target crashed, keeping the crashing input in build-fuzz/fuzz-runs/<target>/crashes/.
#   FUZZ_SECONDS=30        time per target
#   FUZZ_SEED=N            libFuzzer's -seed (default: random). A fixed seed makes a run
#                          repeatable: the same inputs in the same order, as far as the time goes.
#   FUZZ_TARGETS="..."     which targets (default: all)
#   FUZZ_BUILD_DIR=build-fuzz
# Extra args go to cmake. Reproduce a crash: build-fuzz/bin/<target> <crash file>.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
FUZZ_TARGETS=${FUZZ_TARGETS:-ConfigLoaderFuzz TreeObjectFuzz MegaResponseFuzz DbusArgumentsFuzz TreeNamesFuzz}

scripts/install-deps.sh
# shellcheck disable=SC2086  # FUZZ_TARGETS is a word list on purpose
# -O1 and line tables only: what libFuzzer's docs suggest, and much quicker to build than -O2 -g.
BUILD_DIR=$FUZZ_BUILD_DIR BUILD_TYPE=Fuzz BUILD_TARGETS="$FUZZ_TARGETS" scripts/build.sh \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DMEGAFUSE_FUZZ=ON \
  -DMEGAFUSE_BUILD_TESTS=OFF -DCMAKE_C_FLAGS_FUZZ="-O1 -gline-tables-only" \
  -DCMAKE_CXX_FLAGS_FUZZ="-O1 -gline-tables-only" "$@"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp}

failed=0
for target in $FUZZ_TARGETS; do
  binary=$(find "$FUZZ_BUILD_DIR" -type f -name "$target" -perm -u+x | head -n1)
  work=$FUZZ_BUILD_DIR/fuzz-runs/$target
  # A fresh corpus each run too: what an earlier run found would change what a seeded run does.
  rm -rf "$work/crashes" "$work/corpus"
  mkdir -p "$work/corpus" "$work/crashes"
  args=(-max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -artifact_prefix="$work/crashes/")
  [ -f "tests/fuzz/$target.dict" ] && args+=(-dict="tests/fuzz/$target.dict")
  [ -n "${FUZZ_SEED:-}" ] && args+=(-seed="$FUZZ_SEED")
  # New inputs go to the first folder (the build's); the seeds are read only.
  rc=0
  # A bound on the whole run too: after an out-of-memory report, LeakSanitizer's exit scan of a
  # 2 GB heap was seen to spin for minutes.
  timeout -k 10 $((FUZZ_SECONDS * 3 + 60)) \
    "$binary" "${args[@]}" "$work/corpus" "tests/fuzz/corpus/$target" >"$work/log" 2>&1 || rc=$?
  tried=$(awk '/stat::number_of_executed_units/ {print $2}' "$work/log" | tail -n1)
  crashes=$(find "$work/crashes" -type f | wc -l)
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    crashes=1  # died without writing an input (e.g. in its fixture): the log says why
  fi
  echo "$target: ${tried:-0} inputs tried in ${FUZZ_SECONDS}s, $crashes crashes"
  if [ "$crashes" -ne 0 ]; then
    failed=1
    echo "  log: $work/log" >&2
    find "$work/crashes" -type f -printf '  kept: %p\n' >&2
    grep -m1 -A3 -E 'ERROR: |runtime error|fuzz invariant broken' "$work/log" >&2 || tail -n 20 "$work/log" >&2
  fi
done
exit "$failed"
