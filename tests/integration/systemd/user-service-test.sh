#!/usr/bin/env bash
# The user unit under a real systemd --user: start blocks until READY=1, STATUS= is right, the
# watchdog is fed, reload applies a config change, SIGKILL -> Restart=on-failure brings the daemon
# and its mounts back, start clears a stale mountpoint (a killed FUSE server's), stop unmounts within TimeoutStopSec, megactl
# with the daemon stopped starts it through D-Bus activation, and a daemon that cannot start gives
# one clear sentence. Also: the log lines reach a real systemd-journald with MOUNT=/OPERATION=.
#
# Usage: user-service-test.sh MEGA_FUSED MEGACTL UNIT_DIR
#   as root: runs itself in `unshare -m`;
#   as an ordinary user: started by tests/unprivileged/run-as-user.sh --systemd, which prepared the
#   namespace and a delegated cgroup (user-manager.bash says what the manager needs). All but the
#   journald step (7: journald is the system's daemon, started as root) runs the same way.
# Everything lives in one temp dir, one cgroup per hierarchy (user-manager.bash) and a private
# mount namespace; the EXIT trap stops the manager by PID, kills what is left in the
# cgroups, unmounts and removes them in every outcome.
set -euo pipefail

DAEMON=$1 CTL=$2 UNITS=$3
if [ "$(id -u)" = 0 ] && [ "${MEGAFUSE_SYSTEMD_TEST_NS:-}" != 1 ]; then
  # A private mount namespace: /run/systemd becomes a tmpfs here only, and every mount the test
  # makes dies with the namespace.
  exec env MEGAFUSE_SYSTEMD_TEST_NS=1 unshare --mount --propagation private -- "$0" "$@"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/megafuse-systemd.XXXXXX")
# shellcheck source=user-manager.bash
. "$(dirname "$0")/user-manager.bash"
usermgr_env "$T"
JOURNALD=""

log() { printf '== %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  for f in "$T/daemon.log" "$T/manager.log"; do
    [ -f "$f" ] && { echo "--- $f (tail)"; tail -n 40 "$f"; } >&2
  done
  exit 1
}
sc() { timeout 60 systemctl --user "$@"; }
prop() { sc show -p "$1" --value mega-fuse.service; }
prop_is() { [ "$(prop "$1")" = "$2" ]; }

cleanup() {
  local status=$?
  set +e
  usermgr_stop
  [ -n "$JOURNALD" ] && kill -KILL "$JOURNALD" 2>/dev/null
  rm -rf "$T" 2>/dev/null
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$XDG_CONFIG_HOME/systemd/user/mega-fuse.service.d" "$XDG_CONFIG_HOME/mega-fuse" \
  "$XDG_DATA_HOME/dbus-1/services" "$T/mnt/alpha" "$T/mnt/beta"

# A repository to mount, read in place.
git init -q -b main "$T/repo"
echo hello >"$T/repo/hello.txt"
git -C "$T/repo" add hello.txt
git -C "$T/repo" -c user.name=t -c user.email=t@example.com commit -qm first

write_config() {
  {
    echo "cache_dir: $T/cache"
    echo "state_dir: $T/state"
    echo "mounts:"
    for name in "$@"; do
      printf '  - name: %s\n    source: %s\n    mountpoint: %s\n    automount: true\n' \
        "$name" "$T/repo" "$T/mnt/$name"
    done
  } >"$XDG_CONFIG_HOME/mega-fuse/config.yaml"
}
write_config alpha

# The unit and activation file of this build, as a user would find them installed; the drop-in
# only makes the test observable: logs in a file (the namespace has no journald until later),
# and a short watchdog so a loop that did not ping would be killed within the test.
cp "$UNITS/mega-fuse.service" "$XDG_CONFIG_HOME/systemd/user/"
cp "$UNITS/com.gitmega.MegaFuse1.service" "$XDG_DATA_HOME/dbus-1/services/"
cat >"$XDG_CONFIG_HOME/systemd/user/mega-fuse.service.d/test.conf" <<CONF
[Service]
StandardOutput=append:$T/daemon.log
StandardError=append:$T/daemon.log
WatchdogSec=2s
CONF
grep -q "^ExecStart=$DAEMON\$" "$XDG_CONFIG_HOME/systemd/user/mega-fuse.service" ||
  fail "the build-tree unit does not start $DAEMON"

usermgr_start "$T/manager.log" || fail "the user manager or its session bus did not come up"
log "user manager $USERMGR_PID up: $(systemctl --user show -p Version --value)"

# 1. D-Bus activation: megactl with the daemon stopped starts it through systemd.
[ "$(prop ActiveState)" = inactive ] || fail "mega-fuse is already running"
out=$("$CTL" list) || fail "megactl list did not activate the daemon: $out"
echo "$out" | grep -q '^alpha ' || fail "megactl list after activation: $out"
wait_for 20 prop_is ActiveState active || fail "activation did not go through mega-fuse.service"
[ "$(cat "$T/mnt/alpha/hello.txt")" = hello ] || fail "alpha is not served after activation"
log "megactl list activated mega-fuse.service (MainPID $(prop MainPID))"

# 2. start blocks until READY=1: the mount is up the moment systemctl returns.
sc stop mega-fuse.service
[ -z "$(fuse_mounts)" ] || fail "stop left mounts: $(fuse_mounts)"
sc start mega-fuse.service
[ "$(cat "$T/mnt/alpha/hello.txt")" = hello ] || fail "start returned before alpha was mounted"
status=$(prop StatusText)
[ "$status" = "1 mount, 1 mounted" ] || fail "StatusText after start: '$status'"
log "start returned with alpha mounted; StatusText '$status'"

# 3. The watchdog (WatchdogSec=2s) is fed: systemd records each WATCHDOG=1, and no restart
# happens over 5 s.
pid=$(prop MainPID)
ping1=$(prop WatchdogTimestampMonotonic)
sleep 5
ping2=$(prop WatchdogTimestampMonotonic)
[ "$(prop MainPID)" = "$pid" ] && [ "$(prop NRestarts)" = 0 ] ||
  fail "the watchdog killed the daemon (MainPID $pid -> $(prop MainPID))"
[ "$ping2" -gt "$ping1" ] && [ "$ping1" -gt 0 ] || fail "no WATCHDOG=1 pings ($ping1 -> $ping2)"
log "watchdog fed for 5 s at WatchdogSec=2s (last ping at ${ping2} us)"

# 4. reload applies a config change (RELOADING=1 ... READY=1).
write_config alpha beta
sc reload mega-fuse.service
wait_for 20 prop_is StatusText "2 mounts, 2 mounted" ||
  fail "StatusText after reload: '$(prop StatusText)'"
[ "$(cat "$T/mnt/beta/hello.txt")" = hello ] || fail "beta is not served after reload"
[ "$(prop MainPID)" = "$pid" ] || fail "reload restarted the daemon"
log "reload added beta; StatusText '$(prop StatusText)'"
cp "$XDG_CONFIG_HOME/mega-fuse/config.yaml" "$T/good.yaml"
echo "mounts: [ {name: 'bad name'} ]" >"$XDG_CONFIG_HOME/mega-fuse/config.yaml"
sc reload mega-fuse.service
# `systemctl reload` returns once SIGHUP is sent, not when the daemon is READY again: wait for the
# refusal in the log and for the status line to come back before judging.
wait_for 20 grep -q "invalid configuration, keeping the running one" "$T/daemon.log" ||
  fail "the invalid file on reload was not reported in the log"
wait_for 20 prop_is StatusText "2 mounts, 2 mounted" && prop_is MainPID "$pid" &&
  prop_is ActiveState active ||
  fail "an invalid file on reload changed the service: $(prop ActiveState) '$(prop StatusText)'"
cp "$T/good.yaml" "$XDG_CONFIG_HOME/mega-fuse/config.yaml"
log "reload of an invalid file: refused, still active with both mounts"

# 5. SIGKILL: the unit's ExecStopPost releases the dead daemon's mounts (systemd killed their
# watchers with the rest of the cgroup), then Restart=on-failure brings the daemon back and
# remounts.
before_kill=$(wc -l <"$T/daemon.log")
kill -KILL "$pid"
wait_for 30 prop_is NRestarts 1 || fail "no restart after SIGKILL"
wait_for 30 prop_is ActiveState active || fail "not active again after SIGKILL"
wait_for 20 prop_is StatusText "2 mounts, 2 mounted" ||
  fail "StatusText after restart: '$(prop StatusText)'"
for m in alpha beta; do
  [ "$(cat "$T/mnt/$m/hello.txt")" = hello ] || fail "$m is not served after the restart"
done
[ "$(fuse_mounts | wc -l)" = 2 ] || fail "mounts after restart: $(fuse_mounts)"
! tail -n +"$before_kill" "$T/daemon.log" | grep 'clearing stale FUSE mount' ||
  fail "the killed daemon's mounts were left stale for the next start to clear"
log "SIGKILL -> mounts released by ExecStopPost, restarted (MainPID $(prop MainPID)), both served"

# 5b. A stale mountpoint for certain: a FUSE server (squashfuse) killed with its mount up at
# beta's mountpoint ("Transport endpoint is not connected"); start must clear it and mount beta.
sc stop mega-fuse.service
mkdir -p "$T/squash"
echo stale >"$T/squash/stale.txt"
mksquashfs "$T/squash" "$T/stale.sqfs" -quiet -noappend >/dev/null
squashfuse -f "$T/stale.sqfs" "$T/mnt/beta" &
squashfuse_pid=$!
wait_for 5 grep -q "$T/mnt/beta fuse.squashfuse" /proc/mounts || fail "squashfuse did not mount"
kill -KILL "$squashfuse_pid"
wait "$squashfuse_pid" 2>/dev/null || true
wait_for 5 bash -c "! stat '$T/mnt/beta' 2>/dev/null" || fail "could not make a stale mount at beta"
before_start=$(wc -l <"$T/daemon.log")
sc start mega-fuse.service
[ "$(cat "$T/mnt/beta/hello.txt")" = hello ] || fail "beta is not served after a start over a stale mount"
tail -n +"$before_start" "$T/daemon.log" | grep -q "clearing stale FUSE mount at $T/mnt/beta" ||
  fail "start did not clear the stale mount at beta"
log "start cleared a stale mount (killed squashfuse) at beta and mounted it"

# 6. stop unmounts everything well within TimeoutStopSec.
limit=$(prop TimeoutStopUSec)
start_ns=$(date +%s%N)
sc stop mega-fuse.service
elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
[ -z "$(fuse_mounts)" ] || fail "stop left mounts: $(fuse_mounts)"
[ "$(prop Result)" = success ] || fail "stop result: $(prop Result)"
log "stop unmounted everything in ${elapsed_ms} ms (TimeoutStopSec $limit)"

# 7. Logs to a real systemd-journald with the structured fields, when JOURNAL_STREAM says so.
if [ "$(id -u)" != 0 ]; then
  log "as user $(id -un): journald is the system's (root) daemon, its step runs in the root run"
else
  mkdir -p /run/systemd/journal "$T/journal"
  mount -t tmpfs tmpfs /run/log 2>/dev/null || { mkdir -p /run/log && mount -t tmpfs tmpfs /run/log; }
  mount --bind "$T/journal" /var/log/journal 2>/dev/null || true
  /lib/systemd/systemd-journald >"$T/journald.log" 2>&1 &
  JOURNALD=$!
  disown "$JOURNALD"  # killed by PID in cleanup; no job notice
  wait_for 10 test -S /run/systemd/journal/stdout ||
    fail "systemd-journald did not start in the namespace: $(tail -n 5 "$T/journald.log")"
  rm "$XDG_CONFIG_HOME/systemd/user/mega-fuse.service.d/test.conf"
  printf '[Service]\nWatchdogSec=2s\n' >"$XDG_CONFIG_HOME/systemd/user/mega-fuse.service.d/test.conf"
  sc daemon-reload
  sc start mega-fuse.service
  sc reload mega-fuse.service
  sc stop mega-fuse.service
  journalctl --flush >/dev/null 2>&1 || true
  entries=$(journalctl -o export SYSLOG_IDENTIFIER=mega-fused 2>/dev/null || true)
  echo "$entries" | grep -q '^MOUNT=alpha$' || fail "no journal entry with MOUNT=alpha"
  echo "$entries" | grep -q '^OPERATION=reload$' || fail "no journal entry with OPERATION=reload"
  echo "$entries" | grep -q '^PRIORITY=6$' || fail "no journal entry with PRIORITY=6"
  log "journald has MOUNT=alpha, OPERATION=reload and PRIORITY= entries from mega-fused"
fi

# 8. A daemon that cannot start (invalid configuration): megactl says so in one sentence.
echo "mounts: [ {name: 'bad name'} ]" >"$XDG_CONFIG_HOME/mega-fuse/config.yaml"
set +e
out=$("$CTL" list 2>&1)
code=$?
set -e
[ "$code" = 4 ] || fail "megactl list with a failing daemon: exit $code: $out"
echo "$out" | grep -q 'could not be started' || fail "megactl list with a failing daemon: $out"
log "activation failure: exit $code: $out"

log "PASS"
