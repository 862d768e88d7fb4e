#!/usr/bin/env bash
# The main job on a fresh Debian 12, no server needed: installs what is missing, builds, creates a
# small demo repository, and runs the daemon in the foreground with its embedded default config:
# one mount, "demo", of that repository's HEAD at ~/mega-demo (Ctrl-C unmounts). On a session bus,
# `build/bin/megactl list` in another shell shows it.
#   MEGA_DEMO_MOUNT=/some/dir scripts/demo.sh    to mount elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
BUILD_TARGETS="mega-fused megactl" scripts/build.sh

data=${XDG_DATA_HOME:-$HOME/.local/share}/mega-fuse
repo=$data/demo-repo
mnt=${MEGA_DEMO_MOUNT:-$HOME/mega-demo}
if [ ! -d "$repo/.git" ]; then
  mkdir -p "$repo/src" "$repo/docs"
  cd "$repo"
  git init -q -b main .
  printf 'A demo repository served by mega-fuse.\n' > README.md
  printf '#include <stdio.h>\nint main(void) { puts("hello from a lazy mount"); }\n' > src/hello.c
  printf '#!/bin/sh\necho "run me: I keep my executable bit"\n' > src/run.sh
  chmod +x src/run.sh
  printf 'Files appear at once; bytes are read only when opened.\n' > docs/how.txt
  ln -s docs/how.txt HOW
  git add -A
  git -c user.name=demo -c user.email=demo@localhost commit -qm "demo: first revision"
  git tag v1
  cd - >/dev/null
fi
mkdir -p "$mnt"
echo "mega-fuse demo: mounting $repo (HEAD) at $mnt — try in another shell:  ls -l $mnt; cat $mnt/src/hello.c"
echo "Ctrl-C to unmount."
exec build/bin/mega-fused --demo "$repo" "$mnt"
