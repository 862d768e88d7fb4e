#!/usr/bin/env bash
# Writable-mount benchmark: mega-fuse's overlay against the native filesystem and fuse-overlayfs
# over a checkout of the same base, measured in one run. Not a test: never run in CI.
#
#   sudo bench/overlay-bench.sh [--binary PATH] [--dir DIR] [--write-mib N] [--files N]
#
# Measures: sequential write of N MiB (default 1024) with a final fsync; untar of N small files
# (default 10,000); rename of a folder holding N base files. Prints a markdown table of seconds
# and ratios (mega-fuse / native, mega-fuse / fuse-overlayfs). Needs root, git, fuse3,
# fuse-overlayfs, tar. Leaves no mount or process behind, whatever the outcome.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
binary="${MEGAFUSED_BIN:-$here/../build/bin/mega-fused}"
dir="${MEGAFUSE_BENCH_DIR:-/var/tmp/mega-fuse-overlay-bench}"
write_mib=1024
files=10000
while (($#)); do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --write-mib) write_mib="$2"; shift 2 ;;
    --files) files="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "overlay-bench: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -x "$binary" ]] || { echo "overlay-bench: no mega-fused at $binary (--binary)" >&2; exit 2; }
command -v fuse-overlayfs >/dev/null || { echo "overlay-bench: fuse-overlayfs missing" >&2; exit 2; }

daemon_pid=""
cleanup() {
  for mp in "$dir/mega" "$dir/fov"; do
    if grep -q " $mp fuse" /proc/mounts 2>/dev/null; then
      fusermount3 -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
    fi
  done
  if [[ -n "$daemon_pid" ]]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

rm -rf "$dir" && mkdir -p "$dir"/{repo,native,mega,fov,fov-upper,fov-work,overlay,cache}
echo "preparing a base of $files files and an archive of $files small files..." >&2
git -C "$dir/repo" init -q -b main
mkdir -p "$dir/repo/big" "$dir/tarsrc/small"
for ((i = 0; i < files; i++)); do echo "base file $i" > "$dir/repo/big/f$i"; echo "small $i" > "$dir/tarsrc/small/s$i"; done
git -C "$dir/repo" add -A
git -C "$dir/repo" -c user.name=bench -c user.email=bench@example.com commit -qm base
tar cf "$dir/small.tar" -C "$dir/tarsrc" small
git -C "$dir/repo" archive HEAD | tar x -C "$dir/native"
cp -a "$dir/native" "$dir/lower"

"$binary" mount "$dir/repo" "$dir/mega" --writable --overlay-dir "$dir/overlay" \
  --cache-dir "$dir/cache" --log-level warn &
daemon_pid=$!
fuse-overlayfs -o "lowerdir=$dir/lower,upperdir=$dir/fov-upper,workdir=$dir/fov-work" "$dir/fov"
for _ in $(seq 100); do grep -q " $dir/mega fuse" /proc/mounts && break; sleep 0.1; done

seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N); echo "$end - $start" | bc -l; }
write_big() { dd if=/dev/zero of="$1/big.bin" bs=1M count="$write_mib" conv=fsync status=none; }
untar() { tar xf "$dir/small.tar" -C "$1" && sync -f "$1"; }
rename_dir() { mv "$1/big" "$1/big-renamed"; }

printf '| measure | native s | mega-fuse s | fuse-overlayfs s | mega/native | mega/fuse-overlayfs |\n'
printf '|---|---|---|---|---|---|\n'
for measure in write_big untar rename_dir; do
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  n=$(seconds "$measure" "$dir/native")
  m=$(seconds "$measure" "$dir/mega")
  f=$(seconds "$measure" "$dir/fov")
  printf '| %s | %.3f | %.3f | %.3f | %.2f | %.2f |\n' "$measure" "$n" "$m" "$f" \
    "$(echo "$m / $n" | bc -l)" "$(echo "$m / $f" | bc -l)"
done
