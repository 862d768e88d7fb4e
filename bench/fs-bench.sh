#!/usr/bin/env bash
# mega-fuse filesystem benchmark. Not a test: never run in CI. Prints a markdown table of figures
# as ratios against references measured in the same run (see docs/benchmarks.md).
#
#   sudo bench/fs-bench.sh [--binary PATH] [--only MEASURE[,MEASURE...]] [--dir DIR] [...]
#   bench/fs-bench.sh --help                      (all options)
#
# MEASURE: mount, find-cold, find-warm, ls-warm, read1000, large-read, rss (default: all,
# ~10-15 min). Prepares the corpus first (bench/prepare-corpus.sh: once, ~4 min). Needs root for
# cold figures (drop_caches), git, fuse3, python3, util-linux (taskset): scripts/install-deps.sh.
# Leaves no mount or process behind, whatever the outcome.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${MEGAFUSE_BENCH_DIR:-/var/tmp/mega-fuse-bench}"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --dir) dir="${args[i + 1]:-$dir}" ;;
    --dir=*) dir="${args[i]#--dir=}" ;;
    -h|--help) exec python3 "$here/fs_bench.py" --help ;;
  esac
done

# Safety net behind the Python harness's own cleanup: nothing of ours stays mounted.
cleanup() {
  local mp
  while read -r _ mp _; do
    case "$mp" in
      "$dir"/run/*) fusermount3 -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true ;;
    esac
  done < <(grep fuse /proc/mounts || true)
}
trap cleanup EXIT

"$here/prepare-corpus.sh" --dir "$dir"
python3 "$here/fs_bench.py" --dir "$dir" "$@"
