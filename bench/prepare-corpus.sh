#!/usr/bin/env bash
# Prepares the benchmark corpus: Debian's linux-source-6.1 committed to a bare Git repository,
# plus one commit adding a 200 MB pseudo-random file, ready to be served by `git daemon` for
# partial clones. Cached outside the checkout; idempotent: every step is skipped when its
# result is already there, so a second run takes well under a second.
#
#   bench/prepare-corpus.sh [--dir DIR]        (default: $MEGAFUSE_BENCH_DIR or /var/tmp/mega-fuse-bench)
#
# Result (DIR/corpus/linux.git, bare, packed with a bitmap):
#   refs/heads/main      = commit "bench: add 200 MB file" (kernel tree + bench-large.bin)
#   refs/tags/bench-base = commit "linux-source-6.1" (kernel tree only)
# Author/committer names and dates are fixed, so the commit ids are the same on every machine
# given the same Debian package version. Needs: apt-get (root or sudo), dpkg-deb, xz, git, python3.
set -euo pipefail

DIR="${MEGAFUSE_BENCH_DIR:-/var/tmp/mega-fuse-bench}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "prepare-corpus: unknown argument $1" >&2; exit 2 ;;
  esac
done

REPO="$DIR/corpus/linux.git"
DEBDIR="$DIR/deb"
WORK="$DIR/extract"
LARGE_NAME="bench-large.bin"
LARGE_SIZE=$((200 * 1024 * 1024))
PKG="linux-source-6.1"

log() { printf '[prepare-corpus %(%T)T] %s\n' -1 "$*" >&2; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

export GIT_AUTHOR_NAME="mega-fuse bench" GIT_AUTHOR_EMAIL="bench@mega-fuse.invalid"
export GIT_COMMITTER_NAME="mega-fuse bench" GIT_COMMITTER_EMAIL="bench@mega-fuse.invalid"
export GIT_AUTHOR_DATE="2024-01-01T00:00:00Z" GIT_COMMITTER_DATE="2024-01-01T00:00:00Z"
# Never let the user's or system git config change what is committed.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

mkdir -p "$DIR" "$DEBDIR"

# Done already? (the final marker is written last)
if [ -f "$REPO/bench-corpus-ready" ]; then
  log "corpus ready: $REPO ($(cat "$REPO/bench-corpus-ready"))"
  exit 0
fi

need_base=1
if [ -d "$REPO" ] && git --git-dir="$REPO" rev-parse -q --verify refs/tags/bench-base >/dev/null; then
  need_base=0
fi

# 1. The Debian package (~139 MB).
if [ "$need_base" = 1 ]; then
  deb=$(ls "$DEBDIR"/${PKG}_*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    log "downloading $PKG with apt-get download"
    if ! (cd "$DEBDIR" && apt-get download "$PKG" >/dev/null 2>&1); then
      log "apt-get download failed; running apt-get update and retrying"
      $SUDO apt-get update -qq
      (cd "$DEBDIR" && apt-get download "$PKG" >/dev/null)
    fi
    deb=$(ls "$DEBDIR"/${PKG}_*.deb | head -n1)
  fi
  log "package: $deb"
fi

# 2. Extract the tarball inside it (78,579 files, 5,097 folders, 1.5 GB).
if [ "$need_base" = 1 ] && [ ! -f "$WORK/.extracted" ]; then
  log "extracting the kernel tarball into $WORK"
  rm -rf "$WORK"
  mkdir -p "$WORK"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$WORK" --wildcards './usr/src/linux-source-*.tar.xz'
  tarball=$(ls "$WORK"/usr/src/linux-source-*.tar.xz | head -n1)
  mkdir -p "$WORK/tree"
  tar -xJf "$tarball" -C "$WORK/tree" --strip-components=1 --no-same-owner
  rm -rf "$WORK/usr"
  touch "$WORK/.extracted"
fi

# 3. Commit it to a bare repository (the work tree is given explicitly).
if [ "$need_base" = 1 ]; then
  log "committing the tree (git add -Af: ~30 s)"
  rm -rf "$REPO"
  git init -q --bare -b main "$REPO"
  # No background auto-gc: it would race with the repack below and leave two packs.
  git --git-dir="$REPO" config gc.auto 0
  # Its .gitignore ends with '/*': -f adds everything regardless.
  git --git-dir="$REPO" --work-tree="$WORK/tree" add -Af .
  git --git-dir="$REPO" --work-tree="$WORK/tree" commit -q -m "$PKG ($(basename "$deb"))"
  git --git-dir="$REPO" tag bench-base
  rm -f "$REPO/index"
fi

# 4. One extra commit with a 200 MB file of deterministic pseudo-random bytes (large-read measure).
if ! git --git-dir="$REPO" cat-file -e "refs/heads/main:$LARGE_NAME" 2>/dev/null; then
  log "adding $LARGE_NAME ($LARGE_SIZE bytes)"
  python3 - "$LARGE_SIZE" >"$DIR/$LARGE_NAME" <<'EOF'
import random, sys
size = int(sys.argv[1]); rng = random.Random(20240101); out = sys.stdout.buffer
chunk = 1 << 22
while size > 0:
    n = min(chunk, size); out.write(rng.randbytes(n)); size -= n
EOF
  blob=$(git --git-dir="$REPO" hash-object -w "$DIR/$LARGE_NAME")
  rm -f "$DIR/$LARGE_NAME"
  base_tree=$(git --git-dir="$REPO" rev-parse 'bench-base^{tree}')
  tree=$( { git --git-dir="$REPO" ls-tree "$base_tree"; printf '100644 blob %s\t%s\n' "$blob" "$LARGE_NAME"; } |
          git --git-dir="$REPO" mktree)
  commit=$(git --git-dir="$REPO" commit-tree "$tree" -p bench-base -m "bench: add 200 MB file")
  git --git-dir="$REPO" update-ref refs/heads/main "$commit"
fi

# 5. Serving configuration and a packed, bitmapped repository (what a real server has; a clone
#    from 80,000 loose objects would measure the server's compression, not the transfer).
git --git-dir="$REPO" config uploadpack.allowFilter true
git --git-dir="$REPO" config uploadpack.allowAnySHA1InWant true
git --git-dir="$REPO" config uploadpack.allowReachableSHA1InWant true
git --git-dir="$REPO" config repack.writeBitmaps true
git --git-dir="$REPO" config gc.auto 0
if [ -n "$(find "$REPO/objects" -mindepth 1 -maxdepth 1 -name '??' -print -quit)" ] ||
   [ "$(ls "$REPO"/objects/pack/*.pack 2>/dev/null | wc -l)" -ne 1 ] ||
   [ -z "$(ls "$REPO"/objects/pack/*.bitmap 2>/dev/null)" ]; then
  log "packing the repository with a bitmap (a few minutes on 2 cores)"
  git --git-dir="$REPO" repack -a -d -b -q
  git --git-dir="$REPO" prune-packed
fi

# The extracted tree is no longer needed: the benchmark clones its own native checkout.
rm -rf "$WORK"
summary="main=$(git --git-dir="$REPO" rev-parse main) base=$(git --git-dir="$REPO" rev-parse bench-base)"
echo "$summary" >"$REPO/bench-corpus-ready"
log "corpus ready: $REPO ($summary)"
