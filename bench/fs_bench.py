#!/usr/bin/env python3
"""mega-fuse filesystem benchmark (not a test: never run in CI).

Serves the corpus made by bench/prepare-corpus.sh with `git daemon` on 127.0.0.1, mounts it with
`mega-fused mount`, and prints a markdown table of figures as ratios against references measured
in the same run (a native checkout, `git clone`, naive one-blob-at-a-time lazy loading).
Run it through bench/fs-bench.sh (which prepares the corpus first); --help lists the options.
Python 3 standard library only. Cold figures need root (drop_caches).
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

MEASURES = ["mount", "find-cold", "find-warm", "ls-warm", "read1000", "large-read", "rss"]
FIRST_FILE = "kernel/sched/core.c"  # a file three trees deep: the path's trees must be there
LARGE_FILE = "bench-large.bin"
REV = "main"
MiB = 1024 * 1024


def log(msg):
    print(f"[fs-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class MeasureFailed(Exception):
    """A measure could not be taken; the message is the exact symptom."""


# ----------------------------------------------------------------------------------------------
# Reader helpers: run as subprocesses (`fs_bench.py _reader ...`) so a hung FUSE request can be
# timed out and killed without hanging the benchmark itself. They print one JSON line.
# ----------------------------------------------------------------------------------------------

def reader_main(argv):
    ap = argparse.ArgumentParser(prog="fs_bench.py _reader")
    ap.add_argument("--list", help="file of NUL-separated paths to read, grouped by directory")
    ap.add_argument("--ls", action="store_true",
                    help="list each directory and lstat its entries (as `ls -l`) before reading")
    ap.add_argument("--threads", type=int, default=1, help="directories read in parallel")
    ap.add_argument("--big", help="read this one file sequentially with a 1 MiB buffer")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--budget", type=float, default=0,
                    help="seconds after which no further directory is started (0: none)")
    a = ap.parse_args(argv)
    buf = bytearray(MiB)
    mv = memoryview(buf)

    def read_one(path):
        n = 0
        with open(path, "rb", buffering=0) as f:
            while True:
                k = f.readinto(mv)
                if not k:
                    return n
                n += k

    if a.big:
        times, size = [], 0
        for _ in range(a.runs):
            t = time.perf_counter()
            size = read_one(a.big)
            times.append(time.perf_counter() - t)
        print(json.dumps({"times": times, "bytes": size}))
        return 0

    with open(a.list, "rb") as f:
        paths = [os.fsdecode(p) for p in f.read().split(b"\0") if p]
    groups = {}
    for p in paths:
        groups.setdefault(os.path.dirname(p), []).append(p)
    errors = []
    t = time.perf_counter()
    deadline = t + a.budget if a.budget > 0 else None
    skipped = [0]

    def do_dir(d):
        local_buf = bytearray(MiB)
        lmv = memoryview(local_buf)
        n = files = 0
        if deadline and time.perf_counter() > deadline:
            skipped[0] += 1
            return 0, 0
        if a.ls:
            try:
                with os.scandir(d) as it:
                    for e in it:
                        try:
                            e.stat(follow_symlinks=False)
                        except OSError as err:
                            errors.append(f"lstat {e.path}: {err}")
            except OSError as err:
                errors.append(f"list {d}: {err}")
        for p in groups[d]:
            try:
                with open(p, "rb", buffering=0) as f:
                    while True:
                        k = f.readinto(lmv)
                        if not k:
                            break
                        n += k
                files += 1
            except OSError as e:
                errors.append(f"{p}: {e}")
        return n, files

    total = nfiles = 0
    if a.threads <= 1:
        for d in groups:
            n, k = do_dir(d)
            total += n
            nfiles += k
    else:
        with concurrent.futures.ThreadPoolExecutor(a.threads) as ex:
            for n, k in ex.map(do_dir, groups):
                total += n
                nfiles += k
    dt = time.perf_counter() - t
    print(json.dumps({"seconds": dt, "bytes": total, "files": nfiles, "errors": errors[:5],
                      "nerrors": len(errors), "complete": skipped[0] == 0,
                      "dirs_skipped": skipped[0], "dirs": len(groups)}))
    return 0


# ----------------------------------------------------------------------------------------------
# Mounts, processes
# ----------------------------------------------------------------------------------------------

def mountinfo():
    """mountpoint -> (major:minor, fstype) from /proc/self/mountinfo."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            mp = parts[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
            out[mp] = (parts[2], parts[sep + 1])
    return out


def force_unmount(mp):
    """Unmounts a FUSE mount we made, whatever state its daemon is in."""
    info = mountinfo().get(mp)
    if not info:
        return
    subprocess.run(["fusermount3", "-u", mp], stderr=subprocess.DEVNULL)
    if mp not in mountinfo():
        return
    # Abort the connection first so processes blocked on it return, then detach.
    dev = info[0]
    if dev.startswith("0:"):
        abort = f"/sys/fs/fuse/connections/{dev.split(':')[1]}/abort"
        try:
            with open(abort, "w") as f:
                f.write("1")
        except OSError:
            pass
    subprocess.run(["fusermount3", "-uz", mp], stderr=subprocess.DEVNULL)
    if mp in mountinfo():
        subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)


def kill_group(proc, sig=signal.SIGKILL):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def proc_status(pid):
    vals = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                vals[k] = v.strip()
    except OSError:
        pass
    return vals


class Daemon:
    """One `mega-fused mount` process, in its own process group."""

    def __init__(self, bench, cache, tag):
        self.b = bench
        self.cache = cache
        self.mp = bench.mnt
        self.logpath = os.path.join(bench.rundir, f"daemon-{tag}.log")
        self.proc = None

    def cmd(self):
        return ([self.b.binary, "mount", self.b.url, self.mp, "--rev", REV, "--cache-dir", self.cache]
                + self.b.daemon_args)

    def start(self):
        """Spawns the daemon; returns the monotonic time just before the spawn."""
        if self.mp in mountinfo():
            force_unmount(self.mp)
        os.makedirs(self.mp, exist_ok=True)
        os.makedirs(self.cache, exist_ok=True)
        logf = open(self.logpath, "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd(), stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        logf.close()
        self.b.daemons.append(self)
        return t0

    def symptom(self, what):
        tail = ""
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode(errors="replace").strip().splitlines()[-6:]
            tail = " | ".join(lines)
        except OSError:
            pass
        rc = self.proc.poll() if self.proc else None
        state = f"exited with status {rc}" if rc is not None else "still running"
        return f"{what} (daemon {state}; `{' '.join(self.cmd())}`; log {self.logpath}: {tail})"

    def wait_mounted(self, timeout=120.0):
        deadline = time.perf_counter() + timeout
        while True:
            if self.mp in mountinfo():
                return time.perf_counter()
            if self.proc.poll() is not None:
                raise MeasureFailed(self.symptom("mount never appeared"))
            if time.perf_counter() > deadline:
                raise MeasureFailed(self.symptom(f"not mounted after {timeout:.0f} s"))
            time.sleep(0.001)

    def rss(self):
        st = proc_status(self.proc.pid)
        return (int(st.get("VmRSS", "0 kB").split()[0]) / 1024,
                int(st.get("VmHWM", "0 kB").split()[0]) / 1024,
                int(st.get("Threads", "0")))

    def pin(self, cpus):
        subprocess.run(["taskset", "-a", "-cp", cpus, str(self.proc.pid)],
                       stdout=subprocess.DEVNULL, check=True)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log(f"daemon {self.proc.pid} ignored SIGTERM for 20 s: killing it")
                force_unmount(self.mp)
                kill_group(self.proc)
                self.proc.wait(timeout=10)
        if self.mp in mountinfo():
            log(f"mount still present after the daemon exited: unmounting {self.mp}")
            force_unmount(self.mp)
        kill_group(self.proc)  # any git child left behind in its group
        if self in self.b.daemons:
            self.b.daemons.remove(self)
        self.proc = None


# ----------------------------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------------------------

def fmt_s(s):
    if s is None:
        return "—"
    if s < 1:
        return f"{s * 1000:.0f} ms" if s >= 0.01 else f"{s * 1000:.1f} ms"
    return f"{s:.2f} s" if s < 100 else f"{s:.0f} s"


class Bench:
    def __init__(self, a):
        self.a = a
        self.dir = os.path.abspath(a.dir)
        self.repo = os.path.join(self.dir, "corpus", "linux.git")
        self.rundir = os.path.join(self.dir, "run")
        self.mnt = os.path.join(self.rundir, "mnt")
        self.native = os.path.join(self.dir, "native")
        self.native_git = os.path.join(self.dir, "native.git")
        self.binary = a.binary
        self.daemon_args = a.daemon_arg or []
        self.daemons = []
        self.git_daemon = None
        self.url = None
        self.r = {}        # results by key
        self.errors = {}   # measure -> symptom
        self.notes = []
        self.is_root = os.geteuid() == 0
        self.cache_n = 0

    # -- plumbing --------------------------------------------------------------------------
    def fresh_cache(self, tag):
        self.cache_n += 1
        path = os.path.join(self.rundir, f"cache-{self.cache_n}-{tag}")
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path

    def drop_caches(self):
        if not self.is_root:
            return
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")

    def cold(self, server=True):
        """Client cold: page, dentry and inode caches dropped. The server stays warm (its pack
        files are read back into the page cache): a real server is another machine whose cache
        is not ours to drop, and this keeps the client-side figures about the client."""
        self.drop_caches()
        if server:
            for name in sorted(os.listdir(os.path.join(self.repo, "objects", "pack"))):
                with open(os.path.join(self.repo, "objects", "pack", name), "rb", buffering=0) as f:
                    while f.read(8 * MiB):
                        pass

    def run_timed(self, cmd, timeout=900, env=None, what=None):
        t = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout,
                           env=env)
        dt = time.perf_counter() - t
        if p.returncode != 0:
            raise MeasureFailed(f"`{' '.join(cmd)}` exited with {p.returncode}: "
                                f"{p.stderr.decode(errors='replace').strip()[-400:]}" +
                                (f" ({what})" if what else ""))
        return dt

    def fs_cmd(self, cmd, root, timeout, pin=None, daemon=None):
        """Runs find/ls on a tree; on a timeout, says so with the daemon's state."""
        full = (["taskset", "-c", pin] if pin else []) + cmd + [root]
        env = dict(os.environ, LC_ALL="C")
        try:
            return self.run_timed(full, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            msg = f"`{' '.join(full)}` did not finish in {timeout} s"
            if daemon:
                msg = daemon.symptom(msg)
                force_unmount(daemon.mp)
            raise MeasureFailed(msg)

    def reader(self, args, timeout, daemon=None, tolerate_errors=False):
        cmd = [sys.executable, os.path.abspath(__file__), "_reader"] + args
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            msg = f"reading did not finish in {timeout} s"
            if daemon:
                msg = daemon.symptom(msg)
                force_unmount(daemon.mp)
            raise MeasureFailed(msg)
        if p.returncode != 0:
            last = (p.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
            raise MeasureFailed(f"reader failed: {last}" + (f"; log {daemon.logpath}" if daemon else ""))
        res = json.loads(p.stdout)
        if res.get("nerrors") and not tolerate_errors:
            raise MeasureFailed(f"{res['nerrors']} read errors, e.g. {res['errors'][:3]}" +
                                (f"; log {daemon.logpath}" if daemon else ""))
        return res

    def write_list(self, name, paths):
        path = os.path.join(self.rundir, name)
        with open(path, "wb") as f:
            f.write(b"\0".join(os.fsencode(p) for p in paths))
        return path

    def count_entries(self, root, timeout=900):
        p = subprocess.run(["find", root], capture_output=True, timeout=timeout)
        return p.stdout.count(b"\n")

    def start_git_daemon(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.git_daemon = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", f"--base-path={os.path.dirname(self.repo)}",
             "--export-all", "--enable=upload-pack", "--informative-errors",
             "--listen=127.0.0.1", f"--port={port}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.rundir, "git-daemon.log"), "ab"),
            start_new_session=True)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or self.git_daemon.poll() is not None:
                    raise SystemExit("fs-bench: git daemon did not start (see run/git-daemon.log)")
                time.sleep(0.05)
        self.url = f"git://127.0.0.1:{port}/{os.path.basename(self.repo)}"
        log(f"git daemon serving {self.url} (pid {self.git_daemon.pid})")

    def cleanup(self):
        for d in list(self.daemons):
            try:
                d.stop()
            except Exception as e:  # keep cleaning
                log(f"cleanup: {e}")
        if os.path.isdir(self.mnt) and self.mnt in mountinfo():
            force_unmount(self.mnt)
        if self.git_daemon and self.git_daemon.poll() is None:
            kill_group(self.git_daemon, signal.SIGTERM)
            try:
                self.git_daemon.wait(timeout=5)
            except subprocess.TimeoutExpired:
                kill_group(self.git_daemon)
        if self.git_daemon:
            kill_group(self.git_daemon)  # connection children share its group
        if not self.a.keep:
            for name in os.listdir(self.rundir) if os.path.isdir(self.rundir) else []:
                if name.startswith(("cache-", "naive")):
                    shutil.rmtree(os.path.join(self.rundir, name), ignore_errors=True)

    # -- corpus facts ---------------------------------------------------------------------
    def load_tree(self):
        out = subprocess.run(["git", "--git-dir", self.repo, "ls-tree", "-r", "-l", "-z", REV],
                             capture_output=True, check=True).stdout
        self.entries = []  # (path, mode, oid, size)
        for rec in out.split(b"\0"):
            if not rec:
                continue
            meta, path = rec.split(b"\t", 1)
            mode, typ, oid, size = meta.split()
            if typ != b"blob":
                continue
            self.entries.append((os.fsdecode(path), mode.decode(), oid.decode(),
                                 int(size) if size != b"-" else 0))
        self.files = [e for e in self.entries if e[1] in ("100644", "100755")]
        self.by_path = {e[0]: e for e in self.entries}
        self.rev_oid = subprocess.run(["git", "--git-dir", self.repo, "rev-parse", REV],
                                      capture_output=True, text=True, check=True).stdout.strip()

    def pick_1000(self):
        """1,000 files, 20 in each of 50 directories spread over the tree; distinct non-empty
        blobs, so naive lazy loading must fetch exactly 1,000 objects."""
        dirs = {}
        for path, mode, oid, size in self.files:
            if size > 0 and path != LARGE_FILE:
                dirs.setdefault(os.path.dirname(path), []).append((path, oid, size))
        eligible = sorted(d for d, fs in dirs.items() if len(fs) >= 20 and d)
        chosen, seen = [], set()
        step = len(eligible) / 50
        picked_dirs = [eligible[int(i * step)] for i in range(50)]
        for d in picked_dirs:
            n = 0
            for path, oid, size in sorted(dirs[d]):
                if oid in seen:
                    continue
                seen.add(oid)
                chosen.append((path, oid, size))
                n += 1
                if n == 20:
                    break
        return picked_dirs, chosen

    # -- native checkout ------------------------------------------------------------------
    def native_ok(self):
        try:
            with open(os.path.join(self.dir, "native.ok")) as f:
                return f.read().strip() == self.rev_oid
        except OSError:
            return False

    def clone_native(self, timed):
        try:
            os.unlink(os.path.join(self.dir, "native.ok"))
        except FileNotFoundError:
            pass
        t = time.perf_counter()
        shutil.rmtree(self.native, ignore_errors=True)
        shutil.rmtree(self.native_git, ignore_errors=True)
        log(f"  removed the previous native checkout in {fmt_s(time.perf_counter() - t)}")
        cmd = ["git", "clone", "-q", "--branch", REV, f"--separate-git-dir={self.native_git}",
               self.url, self.native]
        if timed:
            t = time.perf_counter()
            self.cold()
            log(f"  sync + drop caches + server warm-up took {fmt_s(time.perf_counter() - t)}")
        dt = self.run_timed(cmd, timeout=1800, what="reference clone")
        with open(os.path.join(self.dir, "native.ok"), "w") as f:
            f.write(self.rev_oid + "\n")
        return dt

    def ensure_native(self):
        if not self.native_ok():
            log("making the native checkout (untimed: `mount` was not selected)")
            self.clone_native(timed=False)

    # -- phase A: mount + first read ------------------------------------------------------
    def phase_mount(self):
        log("reference: git clone + checkout of the same revision (cold client, ~30 s)")
        self.r["clone"] = self.clone_native(timed=True)
        log(f"  clone + checkout: {fmt_s(self.r['clone'])}")

        first = FIRST_FILE if FIRST_FILE in self.by_path else self.files[0][0]
        expect = self.by_path[first][3]
        cache = self.fresh_cache("mount")
        self.cold()
        d = Daemon(self, cache, "mount")
        result = {}

        def read_first():
            try:
                with open(os.path.join(self.mnt, first), "rb") as f:
                    result["bytes"] = len(f.read())
            except OSError as e:
                result["error"] = str(e)

        try:
            t0 = d.start()
            t_mounted = d.wait_mounted()
            th = threading.Thread(target=read_first, daemon=True)
            th.start()
            th.join(timeout=120)
            t1 = time.perf_counter()
            if th.is_alive():
                raise MeasureFailed(d.symptom(f"reading {first} did not return in 120 s"))
            if "error" in result:
                raise MeasureFailed(d.symptom(f"reading {first} failed: {result['error']}"))
            if result["bytes"] != expect:
                raise MeasureFailed(f"{first}: read {result['bytes']} bytes, expected {expect}")
            self.r["mount_ready"] = t_mounted - t0
            self.r["mount_first"] = t1 - t0
            log(f"  mounted after {fmt_s(t_mounted - t0)}, {first} read after {fmt_s(t1 - t0)}")
            # Right after that: a cold walk of the whole tree on the fresh cache (trees not yet
            # local unless the daemon fetched them all at mount).
            self.r["find_fresh"] = self.fs_cmd(["find"], self.mnt, 600, daemon=d)
            log(f"  find right after a fresh mount: {fmt_s(self.r['find_fresh'])}")
        finally:
            d.stop()
        self.mount_cache = cache

    # -- phase B: find cold / warm --------------------------------------------------------
    def phase_find(self, want_cold, want_warm):
        self.ensure_native()
        cache = getattr(self, "mount_cache", None)
        if not cache:
            cache = self.fresh_cache("find")
            d = Daemon(self, cache, "find-prep")
            try:
                d.start()
                d.wait_mounted()
                self.fs_cmd(["find"], self.mnt, 600, daemon=d)
            finally:
                d.stop()
        reps = self.a.cold_reps
        n_native = self.count_entries(self.native)
        if want_cold:
            nat, meg = [], []
            for i in range(reps):
                self.cold(server=False)
                nat.append(self.fs_cmd(["find"], self.native, 600))
                d = Daemon(self, cache, "find-cold")
                try:
                    d.start()
                    d.wait_mounted()
                    self.cold(server=False)
                    meg.append(self.fs_cmd(["find"], self.mnt, 600, daemon=d))
                finally:
                    d.stop()
                log(f"  cold find #{i + 1}: native {fmt_s(nat[-1])}, mega-fuse {fmt_s(meg[-1])}")
            self.r["find_cold_native"] = statistics.median(nat)
            self.r["find_cold"] = statistics.median(meg)
        if want_warm:
            d = Daemon(self, cache, "find-warm")
            try:
                d.start()
                d.wait_mounted()
                n_mega = self.count_entries(self.mnt)  # also the warm-up
                if n_mega != n_native - 1:  # the native root also holds the `.git` file
                    self.notes.append(f"find counts differ: mega-fuse {n_mega} entries, native "
                                      f"{n_native - 1} (without its .git file)")
                self.count_entries(self.native)
                ncpu = os.cpu_count() or 1
                for pin in (None, "0"):
                    if pin:
                        d.pin("0")
                    self.fs_cmd(["find"], self.mnt, 300, pin=pin, daemon=d)
                    self.fs_cmd(["find"], self.native, 300, pin=pin)
                    nat, meg = [], []
                    for _ in range(self.a.warm_reps):
                        nat.append(self.fs_cmd(["find"], self.native, 300, pin=pin))
                        meg.append(self.fs_cmd(["find"], self.mnt, 300, pin=pin, daemon=d))
                    key = "find_warm" + ("_pinned" if pin else "")
                    self.r[key] = statistics.median(meg)
                    self.r[key + "_native"] = statistics.median(nat)
                    log(f"  warm find{' (pinned to CPU 0)' if pin else ''}: native "
                        f"{fmt_s(self.r[key + '_native'])}, mega-fuse {fmt_s(self.r[key])}")
                    if pin:
                        d.pin(f"0-{ncpu - 1}")
            finally:
                d.stop()

    # -- phase C: reads, RSS, ls -lR ------------------------------------------------------
    def phase_reads(self, want):
        dirs, chosen = self.pick_1000()
        paths = [p for p, _, _ in chosen]
        expect_bytes = sum(s for _, _, s in chosen)

        if "read1000" in want:
            # Reference: naive lazy loading, one `git cat-file -p` per blob in a blob:none clone.
            naive = os.path.join(self.rundir, "naive.git")
            shutil.rmtree(naive, ignore_errors=True)
            self.run_timed(["git", "clone", "-q", "--bare", "--filter=blob:none", self.url, naive],
                           timeout=600, what="blob:none clone for the naive reference")
            sample = chosen if self.a.naive_sample >= len(chosen) else \
                [chosen[int(i * len(chosen) / self.a.naive_sample)] for i in range(self.a.naive_sample)]
            log(f"reference: {len(sample)} single-blob lazy fetches (`git cat-file -p`), "
                f"~60 ms each")
            self.cold()
            t = time.perf_counter()
            for _, oid, _ in sample:
                p = subprocess.run(["git", "--git-dir", naive, "cat-file", "-p", oid],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
                if p.returncode != 0:
                    raise MeasureFailed(f"naive reference: cat-file {oid}: {p.stderr.decode()[-300:]}")
            dt = time.perf_counter() - t
            self.r["naive_sample"] = len(sample)
            self.r["naive_measured"] = dt
            self.r["naive"] = dt * len(chosen) / len(sample)
            shutil.rmtree(naive, ignore_errors=True)
            log(f"  naive: {fmt_s(dt)} for {len(sample)} blobs")

            lst = self.write_list("read1000.list", [os.path.join(self.mnt, p) for p in paths])
            # Variant with each directory listed (`ls -l`) first: the documented batch trigger.
            for key, extra in (("read1000_ls", ["--ls"]), ("read1000", [])):
                d = Daemon(self, self.fresh_cache(key), key)
                try:
                    d.start()
                    d.wait_mounted()
                    # All trees local on both sides (the naive clone has them): measure blobs.
                    self.fs_cmd(["find"], self.mnt, 600, daemon=d)
                    self.cold()
                    res = self.reader(["--list", lst] + extra, timeout=300, daemon=d)
                    if res["bytes"] != expect_bytes or res["files"] != len(paths):
                        raise MeasureFailed(f"read {res['files']} files / {res['bytes']} bytes, "
                                            f"expected {len(paths)} / {expect_bytes}")
                    self.r[key] = res["seconds"]
                    log(f"  mega-fuse {key}: {fmt_s(res['seconds'])}")
                finally:
                    d.stop()
                    shutil.rmtree(d.cache, ignore_errors=True)

        rest = want - {"read1000"}
        if not rest:
            return
        # A fresh cache: the read1000 caches hold ~1,000 single-blob packs, which slow every
        # later fetch; these measures should not inherit that.
        d = Daemon(self, self.fresh_cache("reads"), "reads")
        d.start()
        d.wait_mounted()

        def guarded(name, fn):
            try:
                fn()
            except MeasureFailed as e:
                log(f"FAILED {name}: {e}")
                self.errors[name] = str(e)
            except subprocess.TimeoutExpired as e:
                self.errors[name] = f"timeout: {e}"

        try:
            self.ensure_native()
            guarded("large-read", lambda: self.measure_large(d) if "large-read" in rest else None)
            if "rss" in rest or "ls-warm" in rest:
                guarded("rss" if "rss" in rest else "ls-warm", lambda: self.measure_readall(d, rest))
            guarded("ls-warm", lambda: self.measure_ls(d) if "ls-warm" in rest else None)
        finally:
            d.stop()
            shutil.rmtree(d.cache, ignore_errors=True)

    def measure_large(self, d):
        size = self.by_path[LARGE_FILE][3]
        self.cold()
        res = self.reader(["--big", os.path.join(self.mnt, LARGE_FILE)], 300, daemon=d)
        if res["bytes"] != size:
            raise MeasureFailed(f"{LARGE_FILE}: read {res['bytes']} bytes, expected {size}")
        self.r["large_cold"] = size / res["times"][0] / MiB
        runs = self.a.warm_reps
        m = self.reader(["--big", os.path.join(self.mnt, LARGE_FILE), "--runs",
                         str(runs + 1)], 900, daemon=d)
        n = self.reader(["--big", os.path.join(self.native, LARGE_FILE), "--runs",
                         str(runs + 1)], 900)
        self.r["large_warm"] = size / statistics.median(m["times"][1:]) / MiB
        self.r["large_warm_native"] = size / statistics.median(n["times"][1:]) / MiB
        log(f"  200 MB: cold {self.r['large_cold']:.0f} MB/s; warm mega-fuse "
            f"{self.r['large_warm']:.0f} MB/s, native {self.r['large_warm_native']:.0f} MB/s")

    def measure_readall(self, d, rest):
        log("full find, then reading every file once (lists + lstats each directory "
            f"first, {self.a.read_threads} directories at a time)")
        self.fs_cmd(["find"], self.mnt, 900, daemon=d)
        files = [p for p, m, _, _ in self.entries if m in ("100644", "100755")]
        lst = self.write_list("all-mega.list", [os.path.join(self.mnt, p) for p in files])
        budget = self.a.readall_budget
        res = self.reader(["--list", lst, "--ls", "--threads", str(self.a.read_threads),
                           "--budget", str(budget)],
                          timeout=budget + 300, daemon=d, tolerate_errors=True)
        expect = sum(s for p, m, _, s in self.entries if m in ("100644", "100755"))
        if res["nerrors"]:
            self.notes.append(f"read every file: {res['nerrors']} errors, e.g. "
                              f"{'; '.join(res['errors'][:2])} (log {d.logpath})")
        if not res["complete"]:
            self.notes.append(
                f"read every file: stopped at the {budget:.0f} s budget "
                f"(--readall-budget) after {res['files']:,} of {len(files):,} files, "
                f"{res['dirs'] - res['dirs_skipped']:,} of {res['dirs']:,} directories")
        elif res["bytes"] != expect:
            self.notes.append(f"read every file: {res['bytes']} bytes read, {expect} expected")
        self.r["readall"] = res["seconds"]
        self.r["readall_files"] = res["files"]
        self.r["readall_complete"] = res["complete"] and not res["nerrors"]
        rss, hwm, threads = d.rss()
        self.r["rss"], self.r["hwm"], self.r["threads"] = rss, hwm, threads
        log(f"  every file: {fmt_s(res['seconds'])}; daemon RSS {rss:.0f} MB "
            f"(peak {hwm:.0f} MB, {threads} threads)")
        if "rss" in rest:
            nl = self.write_list("all-native.list",
                                 [os.path.join(self.native, p) for p in files])
            self.cold(server=False)
            self.r["readall_native"] = self.reader(
                ["--list", nl, "--ls", "--threads", str(self.a.read_threads)], 1800)["seconds"]

    def measure_ls(self, d):
        cmd = ["ls", "-lR"]
        # The first pass fetches every blob not yet local (a size costs the blob).
        try:
            self.fs_cmd(cmd, self.mnt, self.a.readall_budget, daemon=d)
        except MeasureFailed as e:
            raise MeasureFailed(f"warm ls -lR not measurable: the first `ls -lR` (which "
                                f"fetches every missing blob for its size) {e}")
        self.fs_cmd(cmd, self.native, 600)
        nat, meg = [], []
        for _ in range(self.a.warm_reps):
            nat.append(self.fs_cmd(cmd, self.native, 300))
            meg.append(self.fs_cmd(cmd, self.mnt, 300, daemon=d))
        self.r["ls_warm"], self.r["ls_warm_native"] = statistics.median(meg), statistics.median(nat)
        log(f"  warm ls -lR: native {fmt_s(self.r['ls_warm_native'])}, "
            f"mega-fuse {fmt_s(self.r['ls_warm'])}")

    # -- report ---------------------------------------------------------------------------
    def table(self):
        r = self.r
        rows = []
        cold_note = "" if self.is_root else " (NOT cold: not root, caches not dropped)"

        def faster(measure, m, ref, goal_x, goal, ref_label, mfmt=fmt_s):
            if m is None or ref is None:
                return None
            x = ref / m
            rows.append((measure, mfmt(m), ref_label, f"{x:.0f}× faster" if x >= 10 else f"{x:.1f}× faster",
                         goal, "—" if goal_x is None else ("yes" if x >= goal_x else "**no**")))

        def slower(measure, m, ref, goal_x, goal, ref_label):
            if m is None or ref is None:
                return None
            x = m / ref
            met = "—" if goal_x is None else ("yes" if x <= goal_x else "**no**")
            rows.append((measure, fmt_s(m), ref_label, f"{x:.2f}× native time", goal, met))

        faster("mount ready + first file read (fresh cache)" + cold_note, r.get("mount_first"),
               r.get("clone"), 100, "≥ 100× faster",
               f"{fmt_s(r.get('clone'))} (`git clone` + checkout)")
        if "mount_ready" in r:
            rows.append(("  of which: mount ready", fmt_s(r["mount_ready"]), "", "", "", ""))
        slower("cold find, fresh cache (trees fetched as walked)", r.get("find_fresh"),
               r.get("find_cold_native"), None, "(info)",
               f"{fmt_s(r.get('find_cold_native'))} native cold")
        slower("cold `find` over the whole tree" + cold_note, r.get("find_cold"),
               r.get("find_cold_native"), 3, "≤ 3×", f"{fmt_s(r.get('find_cold_native'))} native cold")
        slower("warm `find` (default, unpinned)", r.get("find_warm"), r.get("find_warm_native"),
               1.5, "≤ 1.5×", f"{fmt_s(r.get('find_warm_native'))} native warm")
        slower("warm `find`, daemon + walker pinned to CPU 0", r.get("find_warm_pinned"),
               r.get("find_warm_pinned_native"), None, "(info)",
               f"{fmt_s(r.get('find_warm_pinned_native'))} native warm, pinned")
        slower("warm `ls -lR`", r.get("ls_warm"), r.get("ls_warm_native"), 1.5, "≤ 1.5×",
               f"{fmt_s(r.get('ls_warm_native'))} native warm")
        if "naive" in r:
            if r["naive_sample"] < 1000:
                lab = (f"{fmt_s(r['naive'])} (sampled: {r['naive_sample']} fetches took "
                       f"{fmt_s(r['naive_measured'])}, scaled ×{1000 / r['naive_sample']:.1f})")
            else:
                lab = f"{fmt_s(r['naive'])} (1,000 × `git cat-file -p`)"
            faster("read 1,000 files in 50 dirs, cold, loopback" + cold_note, r.get("read1000"),
                   r["naive"], 20, "≥ 20× faster", lab)
            faster("  same, each dir listed with `ls -l` first", r.get("read1000_ls"),
                   r["naive"], None, "(info)", "same")
        if "large_warm" in r:
            x = r["large_warm"] / r["large_warm_native"]
            rows.append(("warm sequential read, 200 MB file", f"{r['large_warm']:.0f} MB/s",
                         f"{r['large_warm_native']:.0f} MB/s native", f"{x:.2f}× native throughput",
                         "≥ 0.7×", "yes" if x >= 0.7 else "**no**"))
            rows.append(("cold read, 200 MB file (fetch included)", f"{r['large_cold']:.0f} MB/s",
                         "", "", "(info)", ""))
        if "readall" in r:
            ref = r.get("readall_native")
            if r["readall_complete"]:
                rows.append((f"read every file once ({len(self.files):,} files), fresh blobs",
                             fmt_s(r["readall"]), f"{fmt_s(ref)} native cold" if ref else "",
                             f"{r['readall'] / ref:.1f}× native time" if ref else "", "(info)", ""))
            else:
                rows.append((f"read every file once ({len(self.files):,} files), fresh blobs",
                             f"INCOMPLETE: {r['readall_files']:,} files in {fmt_s(r['readall'])}",
                             f"{fmt_s(ref)} native cold (all files)" if ref else "", "", "(info)",
                             "see notes"))
        if "rss" in r:
            what = ("daemon RSS after full `find` + reading every file" if r["readall_complete"]
                    else f"daemon RSS after full `find` + reading {r['readall_files']:,} files (partial)")
            rows.append((what, f"{r['rss']:.0f} MB",
                         f"(peak {r['hwm']:.0f} MB, {r['threads']} threads)", "", "≤ 200 MB",
                         ("yes" if r["rss"] <= 200 else "**no**") +
                         ("" if r["readall_complete"] else " (partial)")))
        for m, sym in self.errors.items():
            rows.append((f"{m}: FAILED", " ".join(sym.split()).replace("|", "\\|"), "", "", "", "**no**"))
        out = ["| measure | mega-fuse | reference | ratio | goal | met? |",
               "|---|---|---|---|---|---|"]
        out += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(out)

    def machine(self):
        def sh(cmd):
            try:
                return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
            except OSError:
                return "?"
        cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
        mem = sh("awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo")
        src = " ".join(sh(f"df --output=source,fstype {self.dir} | tail -n1").split())
        dev = src.split()[0] if src else ""
        rota = sh(f"lsblk -ndo ROTA {dev} 2>/dev/null") if dev.startswith("/dev/") else ""
        disk = f"{src}" + (f", {'rotational' if rota == '1' else 'non-rotational'} per lsblk" if rota else "")
        return (f"{os.cpu_count()} CPUs ({cpu}), {mem}, kernel {platform.release()}, "
                f"disk {disk}, git {sh('git --version').split()[-1]}")

    def run(self):
        want = set(self.a.only)
        os.makedirs(self.rundir, exist_ok=True)
        if self.mnt in mountinfo():
            force_unmount(self.mnt)
        for name in os.listdir(self.rundir):
            path = os.path.join(self.rundir, name)
            if name.startswith(("cache-", "naive")):
                shutil.rmtree(path, ignore_errors=True)
            elif name.endswith((".log", ".list")):
                os.unlink(path)
        if not self.is_root:
            log("WARNING: not root: caches cannot be dropped, 'cold' figures are not cold")
        self.load_tree()
        self.start_git_daemon()
        self.t_start = time.perf_counter()
        self.load_before = open("/proc/loadavg").read().split()[0]
        if float(self.load_before) > 0.5:
            log(f"WARNING: load average {self.load_before} before the run: figures will be noisy")
        phases = []
        if "mount" in want:
            phases.append(("mount", self.phase_mount))
        if want & {"find-cold", "find-warm"}:
            phases.append(("find-cold/find-warm",
                           lambda: self.phase_find("find-cold" in want, "find-warm" in want)))
        if want & {"read1000", "large-read", "rss", "ls-warm"}:
            phases.append(("read1000/large-read/rss/ls-warm",
                           lambda: self.phase_reads(want & {"read1000", "large-read", "rss", "ls-warm"})))
        for name, fn in phases:
            log(f"phase {name}")
            try:
                fn()
            except MeasureFailed as e:
                log(f"FAILED {name}: {e}")
                self.errors[name] = str(e)
            except subprocess.TimeoutExpired as e:
                log(f"FAILED {name}: timeout {e}")
                self.errors[name] = f"timeout: {e}"
            for d in list(self.daemons):
                d.stop()
        return self.report()

    def report(self):
        elapsed = time.perf_counter() - getattr(self, "t_start", time.perf_counter())
        cmd = "bench/fs-bench.sh " + " ".join(self.a.argv)
        report = [f"mega-fuse fs-bench, {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, "
                  f"{elapsed / 60:.1f} min",
                  f"machine: {self.machine()}",
                  f"load average (1 min): {getattr(self, 'load_before', '?')} before, "
                  f"{open('/proc/loadavg').read().split()[0]} after",
                  f"binary: {self.binary}",
                  f"corpus: linux-source-6.1 + {LARGE_FILE} at {REV} = {self.rev_oid[:12]} "
                  f"({len(self.files):,} files) served by git daemon on 127.0.0.1",
                  f"command: {cmd.strip()}", "", self.table()]
        if self.notes:
            report += [""] + [f"note: {n}" for n in self.notes]
        text = "\n".join(report)
        print(text)
        resdir = os.path.join(self.dir, "results")
        os.makedirs(resdir, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        with open(os.path.join(resdir, f"fs-bench-{stamp}.md"), "w") as f:
            f.write(text + "\n")
        with open(os.path.join(resdir, f"fs-bench-{stamp}.json"), "w") as f:
            json.dump({"results": self.r, "errors": self.errors, "notes": self.notes}, f, indent=1)
        log(f"saved to {resdir}/fs-bench-{stamp}.md")
        return 1 if self.errors else 0


def default_binary():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for b in ("build-bench", "build"):
        p = os.path.join(root, b, "bin", "mega-fused")
        if os.access(p, os.X_OK):
            return p
    return shutil.which("mega-fused") or os.path.join(root, "build", "bin", "mega-fused")


def main(argv):
    if argv[:1] == ["_reader"]:
        return reader_main(argv[1:])
    ap = argparse.ArgumentParser(
        prog="bench/fs-bench.sh",
        description="mega-fuse filesystem benchmark: figures as ratios against references "
                    "measured in the same run. Run as root for cold figures.")
    ap.add_argument("--binary", default=None,
                    help="mega-fused to measure (default: build-bench/bin, build/bin, then PATH)")
    ap.add_argument("--only", action="append", default=None, metavar="MEASURE",
                    help=f"run only these measures (repeat or comma-separate): {', '.join(MEASURES)}")
    ap.add_argument("--dir", default=os.environ.get("MEGAFUSE_BENCH_DIR", "/var/tmp/mega-fuse-bench"),
                    help="corpus and scratch folder (default: %(default)s)")
    ap.add_argument("--naive-sample", type=int, default=250,
                    help="time N of the 1,000 single-blob fetches of the naive reference, spread "
                         "over the 50 directories, and scale to 1,000 (default: %(default)s, "
                         "~30 s; 1000 = all, ~110 s)")
    ap.add_argument("--warm-reps", type=int, default=5, help="timed runs per warm figure (median)")
    ap.add_argument("--cold-reps", type=int, default=3, help="runs per cold find figure (median)")
    ap.add_argument("--read-threads", type=int, default=4,
                    help="directories read in parallel when reading every file (default: 4)")
    ap.add_argument("--readall-budget", type=float, default=180,
                    help="seconds for reading every file (RSS measure) and for the first "
                         "`ls -lR` before the warm ones; past it the run goes on and says "
                         "what was left (default: %(default)s)")
    ap.add_argument("--daemon-arg", action="append", metavar="ARG",
                    help="extra argument for `mega-fused mount` (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the cache folders afterwards")
    a = ap.parse_args(argv)
    a.argv = argv
    only = []
    for item in a.only or [",".join(MEASURES)]:
        only += [m.strip() for m in item.split(",") if m.strip()]
    bad = [m for m in only if m not in MEASURES]
    if bad:
        ap.error(f"unknown measure(s) {bad}; choose from {MEASURES}")
    a.only = only
    a.binary = os.path.abspath(a.binary) if a.binary else default_binary()
    if not os.access(a.binary, os.X_OK):
        print(f"fs-bench: no mega-fused binary at {a.binary} (build it, or pass --binary PATH)",
              file=sys.stderr)
        return 2
    if not os.path.isfile(os.path.join(a.dir, "corpus", "linux.git", "bench-corpus-ready")):
        print(f"fs-bench: no corpus in {a.dir}: run bench/prepare-corpus.sh first", file=sys.stderr)
        return 2
    b = Bench(a)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        return b.run()
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}): cleaning up")
        b.errors["interrupted"] = str(e)
        try:
            if getattr(b, "rev_oid", None):
                b.report()
        except Exception as e2:  # the report is best effort here
            log(f"no report: {e2}")
        return 130
    finally:
        b.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
