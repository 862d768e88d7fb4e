# user-manager.bash: a real systemd --user for tests (TESTING.md, "A real systemd user manager"),
# sourced by the systemd and packaging tests. Call inside a private mount namespace
# (unshare --mount): /run/systemd becomes a tmpfs there so sd_booted() holds. The manager runs in
# its own cgroup (USERMGR_CG) in each hierarchy; Debian's dbus user units give it a session bus.
#
#   usermgr_env DIR     XDG_RUNTIME_DIR, HOME and the XDG dirs under DIR; DBUS_SESSION_BUS_ADDRESS
#   usermgr_start LOG   starts the manager, waits for it and for the bus socket
#   usermgr_stop        stops it (systemctl exit, then SIGKILL by PID), kills what is left in its
#                       cgroups, unmounts FUSE mounts under DIR, removes the cgroups; idempotent
#
# As an ordinary user (tests/unprivileged/run-as-user.sh --systemd), measured with systemd 252 on
# this hybrid cgroup layout:
# - the manager's cgroup in the unified (v2) hierarchy must be the user's: at start it creates
#   <its cgroup>/init.scope there, and without write access it exits 1 at once (mkdir EACCES; the
#   message goes to /dev/console, which the user cannot open, so nothing is printed). The
#   name=systemd (v1) one alone is not enough, and it is not needed. run-as-user.sh chowns a
#   cgroup per hierarchy (MEGAFUSE_TEST_CGROUP) and runs the test in its `shell` child; the user
#   may then create `usermgr` beside it and move a process there (v2 lets the owner of the common
#   parent's cgroup.procs move processes between its children).
# - XDG_RUNTIME_DIR must be set ("Trying to run as user instance, but $XDG_RUNTIME_DIR is not
#   set" otherwise); any 0700 folder of the user does: no /run/user/UID, no logind.
# - /run/systemd/system must exist (sd_booted()); run-as-user.sh mounts that tmpfs as root.
# - DBUS_SESSION_BUS_ADDRESS is not needed by the manager (dbus.socket listens on
#   $XDG_RUNTIME_DIR/bus); it is set for the clients (megactl, sd-bus's default is the same path).

if [ -n "${MEGAFUSE_TEST_CGROUP:-}" ]; then
  USERMGR_CG=$MEGAFUSE_TEST_CGROUP/usermgr  # delegated to us by run-as-user.sh --systemd
else
  USERMGR_CG=test-megafuse-usermgr-$$
fi
USERMGR_PID=""
USERMGR_DIR=""

usermgr_env() {
  USERMGR_DIR=$1
  export XDG_RUNTIME_DIR=$1/run HOME=$1/home
  export XDG_CONFIG_HOME=$1/home/.config XDG_DATA_HOME=$1/home/.local/share
  export XDG_CACHE_HOME=$1/home/.cache XDG_STATE_HOME=$1/home/.local/state
  export DBUS_SESSION_BUS_ADDRESS=unix:path=$XDG_RUNTIME_DIR/bus
  unset DBUS_SYSTEM_BUS_ADDRESS NOTIFY_SOCKET JOURNAL_STREAM WATCHDOG_USEC WATCHDOG_PID
  mkdir -p "$XDG_RUNTIME_DIR" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_STATE_HOME"
  chmod 0700 "$XDG_RUNTIME_DIR"
}

# wait_for SECONDS CMD...: runs CMD every 0.1 s until it succeeds; fails after SECONDS.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

# The FUSE mounts under the test dir (mountinfo: the fs type follows the "-" after the optional
# fields).
fuse_mounts() {
  awk -v t="$USERMGR_DIR/" \
    '{ for (i = 7; $i != "-"; i++); if ($(i + 1) ~ /^fuse/ && index($5, t) == 1) print $5 }' \
    /proc/self/mountinfo
}

usermgr_start() {
  if [ "$(id -u)" = 0 ]; then
    mountpoint -q /run/systemd || mount -t tmpfs tmpfs /run/systemd
    mkdir -p /run/systemd/system
  elif [ ! -d /run/systemd/system ] || [ -z "${MEGAFUSE_TEST_CGROUP:-}" ]; then
    echo "usermgr_start: as a user, run through tests/unprivileged/run-as-user.sh --systemd" >&2
    return 1
  fi
  for h in systemd unified; do mkdir -p "/sys/fs/cgroup/$h/$USERMGR_CG"; done
  (
    for h in systemd unified; do echo "$BASHPID" >"/sys/fs/cgroup/$h/$USERMGR_CG/cgroup.procs"; done
    exec /lib/systemd/systemd --user
  ) >"$1" 2>&1 &
  USERMGR_PID=$!
  wait_for 20 systemctl --user is-system-running --wait ||
    wait_for 5 systemctl --user show -p Version || return 1
  wait_for 10 test -S "$XDG_RUNTIME_DIR/bus"
}

# Safe under set -e: nothing in it fails the caller.
usermgr_stop() {
  if [ -n "$USERMGR_PID" ] && kill -0 "$USERMGR_PID" 2>/dev/null; then
    timeout 40 systemctl --user stop mega-fuse.service >/dev/null 2>&1 || true
    timeout 10 systemctl --user exit >/dev/null 2>&1 || true
    for _ in $(seq 50); do kill -0 "$USERMGR_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$USERMGR_PID" 2>/dev/null || true
  fi
  USERMGR_PID=""
  for h in systemd unified; do
    [ -d "/sys/fs/cgroup/$h/$USERMGR_CG" ] || continue
    find "/sys/fs/cgroup/$h/$USERMGR_CG" -name cgroup.procs -exec cat {} + 2>/dev/null |
      while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done
  done
  if [ -n "$USERMGR_DIR" ]; then
    for m in $(fuse_mounts); do
      fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
  fi
  sleep 0.2
  for h in systemd unified; do
    if [ -d "/sys/fs/cgroup/$h/$USERMGR_CG" ]; then
      find "/sys/fs/cgroup/$h/$USERMGR_CG" -depth -type d -exec rmdir {} + 2>/dev/null || true
    fi
  done
  return 0
}
