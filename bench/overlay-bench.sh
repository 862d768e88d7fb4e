#!/usr/bin/env bash
# Writable-mount benchmark: mega-fuse's overlay against the native filesystem and fuse-overlayfs
# over a checkout of the same base, measured in one run. Not a test: never run in CI.
#
#   sudo bench/overlay-bench.sh [--binary PATH] [--dir DIR] [--write-mib N] [--files N]
#                               [--changes N] [--corpus DIR] [--runs N] [--write-runs N]
#                               [--only changes]
#
# Measures: sequential write of N MiB (default 1024) with a final fsync; untar of N small files
# (default 10,000); rename of a folder holding N base files. Prints a markdown table of seconds
# and ratios (mega-fuse / native, mega-fuse / fuse-overlayfs). Each figure is the median of
# --write-runs runs (default 3). A run measures native, mega-fuse and fuse-overlayfs one after
# the other, in an order that rotates, with caches dropped before each, so the three share the
# machine's moment: single runs of the 1 GiB write moved by 4x on these disks. fuse-overlayfs
# renames the folder once: its first rename copies the 10,000 files up, later ones would not.
# --changes N (default 0: skipped) adds the change-set measure on the linux-source corpus
# (bench/prepare-corpus.sh makes it): N files spread over the tree get one more line, in a native
# checkout and in a writable service mount; then `git status --porcelain` against
# `megactl changes`, both warm, median of --runs (default 5). Needs dbus-daemon and megactl beside
# the binary too; the checkout takes ~1.5 GB under DIR. --only changes skips the write, untar
# and rename measures (and their fuse-overlayfs mount) to measure that alone.
# Needs root, git, fuse3, fuse-overlayfs, tar. Leaves no mount or process behind, whatever the
# outcome.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
binary="${MEGAFUSED_BIN:-$here/../build/bin/mega-fused}"
dir="${MEGAFUSE_BENCH_DIR:-/var/tmp/mega-fuse-overlay-bench}"
write_mib=1024
files=10000
changes=0
corpus="${MEGAFUSE_BENCH_CORPUS:-/var/tmp/mega-fuse-bench}/corpus/linux.git"
runs=5
write_runs=3
only=""
while (($#)); do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --write-mib) write_mib="$2"; shift 2 ;;
    --files) files="$2"; shift 2 ;;
    --changes) changes="$2"; shift 2 ;;
    --corpus) corpus="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --write-runs) write_runs="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "overlay-bench: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -x "$binary" ]] || { echo "overlay-bench: no mega-fused at $binary (--binary)" >&2; exit 2; }
case "$only" in
  "") ;;
  changes) ((changes > 0)) || changes=1000 ;;
  *) echo "overlay-bench: --only takes 'changes', not '$only'" >&2; exit 2 ;;
esac
[[ -n "$only" ]] || command -v fuse-overlayfs >/dev/null || { echo "overlay-bench: fuse-overlayfs missing" >&2; exit 2; }
megactl="$(dirname "$binary")/megactl"
if ((changes > 0)); then
  [[ -x "$megactl" ]] || { echo "overlay-bench: no megactl beside $binary" >&2; exit 2; }
  [[ -d "$corpus" ]] || { echo "overlay-bench: no corpus at $corpus (bench/prepare-corpus.sh)" >&2; exit 2; }
fi

daemon_pid=""
service_pid=""
bus_pid=""
cleanup() {
  for mp in "$dir/mega" "$dir/fov" "$dir/linux-mega"; do
    if grep -q " $mp fuse" /proc/mounts 2>/dev/null; then
      fusermount3 -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
    fi
  done
  for pid in "$daemon_pid" "$service_pid"; do
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  if [[ -n "$bus_pid" ]]; then kill "$bus_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

rm -rf "$dir" && mkdir -p "$dir"/{repo,native,mega,fov,fov-upper,fov-work,overlay,cache}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N); echo "$end - $start" | bc -l; }

if [[ -z "$only" ]]; then
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

# Each run writes new names (a run's leftovers are removed outside the timing); the rename is
# undone outside the timing.
write_big() { dd if=/dev/zero of="$1/big.bin" bs=1M count="$write_mib" conv=fsync status=none; }
write_big_undo() { rm -f "$1/big.bin"; }
untar() { mkdir "$1/untar" && tar xf "$dir/small.tar" -C "$1/untar" && sync -f "$1"; }
untar_undo() { rm -rf "$1/untar"; }
rename_dir() { mv "$1/big" "$1/big-renamed"; }
rename_dir_undo() { mv "$1/big-renamed" "$1/big"; }

printf '| measure | native s | mega-fuse s | fuse-overlayfs s | mega/native | mega/fuse-overlayfs |\n'
printf '|---|---|---|---|---|---|\n'
for measure in write_big untar rename_dir; do
  n_all=""; m_all=""; f_all=""
  for ((run = 0; run < write_runs; run++)); do
    # The order rotates each run: the first after drop_caches, or the one after a 1 GiB fsync,
    # is not always the same target.
    for ((slot = 0; slot < 3; slot++)); do
      sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
      case $(((run + slot) % 3)) in
        0) n_all+="$(seconds "$measure" "$dir/native")"$'\n'; "${measure}_undo" "$dir/native" ;;
        1) m_all+="$(seconds "$measure" "$dir/mega")"$'\n'; "${measure}_undo" "$dir/mega" ;;
        2) if [[ "$measure" != rename_dir || -d "$dir/fov/big" ]]; then
             f_all+="$(seconds "$measure" "$dir/fov")"$'\n'
             [[ "$measure" == rename_dir ]] || "${measure}_undo" "$dir/fov"
           fi ;;
      esac
    done
  done
  n=$(printf '%s' "$n_all" | median); m=$(printf '%s' "$m_all" | median); f=$(printf '%s' "$f_all" | median)
  echo "$measure runs (s): native $(echo $n_all) | mega-fuse $(echo $m_all) | fuse-overlayfs $(echo $f_all)" >&2
  printf '| %s | %.3f | %.3f | %.3f | %.2f | %.2f |\n' "$measure" "$n" "$m" "$f" \
    "$(echo "$m / $n" | bc -l)" "$(echo "$m / $f" | bc -l)"
done

if fusermount3 -u "$dir/mega"; then wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""; fi
fusermount3 -u "$dir/fov" || true
fi
((changes > 0)) || exit 0

# --- changes: `megactl changes` (the overlay alone, O(changes)) against `git status` (stats the
# whole checkout), after the same edits, on the linux-source corpus.
timed_runs() { local i; for ((i = 0; i < runs; i++)); do seconds "$@"; done | median; }

echo "checking out the linux-source corpus (bench-base) for the changes measure..." >&2
git clone -q --shared --no-checkout "$corpus" "$dir/linux-native"
git -C "$dir/linux-native" checkout -q bench-base
home="$dir/service"
mkdir -p "$home"/{config,cache,state,data} "$dir/linux-mega"
bus_pid=$(dbus-daemon --session --address="unix:path=$home/bus" --fork --print-pid --nopidfile | head -n1)
export DBUS_SESSION_BUS_ADDRESS="unix:path=$home/bus" XDG_CONFIG_HOME="$home/config" \
  XDG_CACHE_HOME="$home/cache" XDG_STATE_HOME="$home/state" XDG_DATA_HOME="$home/data"
cat > "$home/config.yaml" <<YAML
log_level: warn
mounts:
  - name: linux
    source: $corpus
    revision: bench-base
    mountpoint: $dir/linux-mega
    writable: true
YAML
"$binary" --config "$home/config.yaml" > "$home/daemon.log" 2>&1 &
service_pid=$!
for _ in $(seq 600); do grep -q " $dir/linux-mega fuse" /proc/mounts && break; sleep 0.2; done
grep -q " $dir/linux-mega fuse" /proc/mounts || { echo "overlay-bench: the service did not mount (log: $home/daemon.log)" >&2; exit 1; }

# N regular files spread evenly over the tree (every k-th in path order).
git -C "$dir/linux-native" ls-files -s | awk '$1 ~ /^1006|^1007/ { print $4 }' > "$dir/all-files"
step=$(( $(wc -l < "$dir/all-files") / changes ))
awk -v step="$step" -v n="$changes" 'NR % step == 0 && c < n { print; c++ }' "$dir/all-files" > "$dir/changed-files"
edit() { while IFS= read -r path; do printf '/* overlay-bench */\n' >> "$1/$path"; done < "$dir/changed-files"; }
edit "$dir/linux-native"
edit "$dir/linux-mega"

git_status() { git -C "$dir/linux-native" status --porcelain; }
mega_changes() { "$megactl" changes linux; }
native_count=$(git_status | wc -l)
mega_count=$(mega_changes | wc -l)
echo "changed paths: git status $native_count, megactl changes $mega_count" >&2
n=$(timed_runs git_status)
m=$(timed_runs mega_changes)
printf '\n| measure | git status s | megactl changes s | changes/status |\n|---|---|---|---|\n'
printf '| changes, %d files changed (median of %d, warm) | %.3f | %.3f | %.2f |\n' \
  "$changes" "$runs" "$n" "$m" "$(echo "$m / $n" | bc -l)"
