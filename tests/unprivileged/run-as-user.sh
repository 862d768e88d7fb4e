#!/usr/bin/env bash
# Runs a command as an ordinary user that may mount FUSE (through the setuid fusermount3), without
# touching the host: in a private mount and PID namespace, a 0666 /dev/fuse and a test
# /etc/fuse.conf are bound over the real ones. Must be started as root; everything it creates
# (files, mounts, the user's processes) is gone when it returns, whatever the outcome.
#
#   run-as-user.sh [--allow-other] [--user NAME] [--second-user NAME] [--systemd]
#                  [--keep-env VAR]... -- COMMAND [ARG]...
#
# --allow-other   the test fuse.conf has user_allow_other (default: it has not)
# --user NAME     the test user (default megafuse-test), created as a system user if missing
# --second-user NAME  another user, created the same way, whom the command can become to try the
#                 user's mounts from outside: MEGAFUSE_TEST_AS_SECOND_USER is a copy of setpriv,
#                 set-user-ID and set-group-ID to NAME (on a tmpfs of this namespace only), so
#                 `$MEGAFUSE_TEST_AS_SECOND_USER --reuid=NAME --regid=NAME --keep-groups -- CMD`
#                 runs CMD with every uid and gid NAME's (the supplementary groups stay the
#                 user's: changing them needs CAP_SETGID). The home becomes 0711 so NAME can
#                 reach what the command opens up.
# --systemd       room for a real `systemd --user` of the user (tests/integration/systemd): a
#                 tmpfs on /run/systemd with /run/systemd/system (sd_booted() here), and a cgroup
#                 per hierarchy delegated to the user (chowned), the command in its `shell` child;
#                 its name is MEGAFUSE_TEST_CGROUP. The user may create and move its own processes
#                 between children of a cgroup it owns, which is all systemd --user needs.
# --keep-env VAR  pass VAR through to the command (MEGAFUSED_BIN, GTEST_*, *SAN_OPTIONS always are)
# The command gets HOME, XDG_RUNTIME_DIR, XDG_CONFIG_HOME, XDG_CACHE_HOME, XDG_DATA_HOME,
# XDG_STATE_HOME and TMPDIR inside a private tmp home, and MEGAFUSE_TEST_FUSE_CONF=allow_other|plain.
# Its exit status is returned.
set -euo pipefail

if [[ ${1:-} == --inside ]]; then
    # Second stage, inside the namespaces (PID 1 of the new PID namespace): when it exits, every
    # process the user left behind is killed and every mount made here disappears.
    shift
    tmp=$1 user=$2 allow=$3 second=$4 cgroup=$5
    shift 5
    mount --make-rprivate /
    # A checkout under a folder others cannot enter (a CI clone in /root/...): in this namespace
    # only, the first such ancestor is covered by a tmpfs holding just the needed folders, each
    # bound back in from a staged view of the original. The host's permissions stay as they are.
    reachable() { setpriv --reuid="$user" --regid="$user" --init-groups test -x "$1"; }
    while IFS= read -r -d '' share; do
        reachable "$share" && continue
        blocked="" path=""
        IFS=/ read -ra parts <<<"${share#/}"
        for part in "${parts[@]}"; do
            path+="/$part"
            if ! reachable "$path"; then blocked=$path; break; fi
        done
        if [[ -z $blocked || $blocked == "$share" ]]; then
            echo "$0: $share is not reachable by $user (its own mode?)" >&2
            exit 2
        fi
        stage="$tmp/stage${blocked//\//_}"
        if [[ ! -d $stage ]]; then
            mkdir -p "$stage"
            mount --bind "$blocked" "$stage"
            mount -t tmpfs -o mode=0755 megafuse-test-cover "$blocked"
        fi
        rel=${share#"$blocked"/}
        mkdir -p "$blocked/$rel"
        mount --bind "$stage/$rel" "$blocked/$rel"
    done <"$tmp/shares"
    if [[ $1 == /* ]] && ! reachable "$1"; then
        echo "$0: $1 is not executable by $user" >&2
        exit 2
    fi
    mkdir -p "$tmp/dev"
    # A tmpfs of our own: the device node must not sit on a nodev filesystem.
    mount -t tmpfs -o mode=0755,size=64k megafuse-test-dev "$tmp/dev"
    mknod -m 0666 "$tmp/dev/fuse" c 10 229
    mount --bind "$tmp/dev/fuse" /dev/fuse
    {
        echo "# mega-fuse unprivileged tests (bound over /etc/fuse.conf in a private namespace)"
        [[ $allow == allow_other ]] && echo user_allow_other
        echo "mount_max = 1000"
    } >"$tmp/fuse.conf"
    mount --bind "$tmp/fuse.conf" /etc/fuse.conf
    home=$tmp/home
    extra=()
    if [[ -n $second ]]; then
        # Its own tmpfs: the set-ID bits must not sit on a nosuid filesystem.
        mkdir -p "$tmp/second"
        mount -t tmpfs -o mode=0755,size=1m megafuse-test-second "$tmp/second"
        cp /usr/bin/setpriv "$tmp/second/setpriv"
        chown "$second:$second" "$tmp/second/setpriv"
        chmod 6755 "$tmp/second/setpriv"
        chmod 0711 "$home"
        extra+=(MEGAFUSE_TEST_SECOND_USER="$second"
            MEGAFUSE_TEST_AS_SECOND_USER="$tmp/second/setpriv")
    fi
    if [[ -n $cgroup ]]; then
        mount -t tmpfs -o mode=0755 megafuse-test-systemd /run/systemd
        mkdir /run/systemd/system
        for h in systemd unified; do
            mkdir -p "/sys/fs/cgroup/$h/$cgroup/shell"
            chown -R "$user:" "/sys/fs/cgroup/$h/$cgroup"
            echo 0 >"/sys/fs/cgroup/$h/$cgroup/shell/cgroup.procs"  # 0: this shell
        done
        extra+=(MEGAFUSE_TEST_CGROUP="$cgroup")
    fi
    envs=(HOME="$home" USER="$user" LOGNAME="$user" SHELL=/bin/sh
        PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin
        XDG_RUNTIME_DIR="$home/run" XDG_CONFIG_HOME="$home/.config" XDG_CACHE_HOME="$home/.cache"
        XDG_DATA_HOME="$home/.local/share" XDG_STATE_HOME="$home/.local/state" TMPDIR="$home/tmp"
        MEGAFUSE_TEST_FUSE_CONF="$allow" ${extra[@]+"${extra[@]}"})
    while IFS= read -r -d '' var; do
        envs+=("$var")
    done <"$tmp/env"
    # Not exec: as PID 1 this shell reaps orphans, and its exit kills whatever is left.
    set +e
    setpriv --reuid="$user" --regid="$user" --init-groups --reset-env env "${envs[@]}" "$@"
    exit $?
fi

allow=plain
user=megafuse-test
second=""
cgroup=""
keep=(MEGAFUSED_BIN MEGACTL_BIN ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS)
while (($#)); do
    case $1 in
    --allow-other) allow=allow_other ;;
    --user) user=$2; shift ;;
    --second-user) second=$2; shift ;;
    --systemd) cgroup=megafuse-test-$$ ;;
    --keep-env) keep+=("$2"); shift ;;
    --) shift; break ;;
    *) break ;;
    esac
    shift
done
if (($# == 0)); then
    echo "usage: $0 [--allow-other] [--user NAME] [--second-user NAME] [--systemd]" \
        "[--keep-env VAR]... -- COMMAND [ARG]..." >&2
    exit 2
fi
if ((EUID != 0)); then
    echo "$0: must be started as root (it sets up a private namespace, then drops to $user);" \
        "skipped" >&2
    exit 77  # ctest's SKIP_RETURN_CODE
fi
for tool in unshare setpriv fusermount3 mknod; do
    command -v "$tool" >/dev/null || { echo "$0: $tool is missing" >&2; exit 2; }
done

for name in "$user" $second; do
    if ! id -u "$name" >/dev/null 2>&1; then
        # Another run may create it at the same moment: tolerate "already exists".
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
            "$name" 2>/dev/null || id -u "$name" >/dev/null
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/megafuse-unprivileged.XXXXXX")
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    # The namespace is gone by now (its mounts with it); a mount that escaped would make rm fail
    # loudly rather than delete through it (--one-file-system).
    rm -rf --one-file-system -- "$tmp"
    # The cgroups are not namespaced: empty once the PID namespace's processes are reaped, which
    # may lag its PID 1 by a moment.
    if [[ -n $cgroup ]]; then
        for h in systemd unified; do
            [[ -d /sys/fs/cgroup/$h/$cgroup ]] || continue
            for _ in $(seq 50); do
                find "/sys/fs/cgroup/$h/$cgroup" -depth -type d -exec rmdir {} + 2>/dev/null && break
                sleep 0.1
            done
        done
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 0755 "$tmp"
mkdir -p "$tmp/home"/{run,tmp,.config,.cache,.local/share,.local/state}
chown -R "$user:" "$tmp/home"
chmod 0700 "$tmp/home" "$tmp/home/run"

# Environment passed through, NUL-separated (values may hold anything).
: >"$tmp/env"
for var in "${keep[@]}"; do
    if [[ -v $var ]]; then printf '%s=%s\0' "$var" "${!var}" >>"$tmp/env"; fi
done
while IFS= read -r -d '' entry; do
    [[ $entry == GTEST_* ]] && printf '%s\0' "$entry" >>"$tmp/env"
done < <(env -0)

# Folders the user must reach: this checkout (test binaries, scripts, tests/lsan.supp) and the
# command's own folder. The inside stage makes them reachable when a parent is not.
{
    printf '%s\0' "$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)"
    if [[ $1 == /* ]]; then printf '%s\0' "$(dirname "$(readlink -f "$1")")"; fi
} >"$tmp/shares"

set +e
unshare --mount --pid --fork --kill-child --mount-proc --propagation private \
    "$(readlink -f "$0")" --inside "$tmp" "$user" "$allow" "$second" "$cgroup" "$@"
status=$?
set -e
exit "$status"
