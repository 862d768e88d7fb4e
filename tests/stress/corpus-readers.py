#!/usr/bin/env python3
"""Long-form load run (issue 7 "Load"; not a test: never run in CI): 50 readers over a cold mount
of the linux corpus.

Serves the corpus made by bench/prepare-corpus.sh (corpus/linux.git) with `git daemon` on
127.0.0.1, mounts it cold (a fresh cache folder, kernel caches dropped) with `mega-fused mount`,
and starts N reader threads, each reading its own slice of the revision's regular files in turn
until the duration is up. Every file's bytes are hashed as a Git blob and compared with the id
`git ls-tree` gives for it: the oracle is Git itself, no checkout needed. A watchdog reports a
stall (no read completes for --stall seconds) with the daemon's thread stacks and aborts the FUSE
connection, so a deadlock ends the run instead of hanging it.

Prints files and bytes read, errors (the first 20 named), elapsed time and the daemon's RSS,
threads and fds at the end. Exit status 0 only with no error and no stall. Needs root (drop_caches,
/sys/fs/fuse/connections). Python 3 standard library only.

  tests/stress/corpus-readers.py --mega-fused build/daemon/mega-fused [--duration 300]
"""

import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def log(msg):
    print(f"[corpus-readers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def is_mounted(mountpoint):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == mountpoint for line in f)


def fuse_device(mountpoint):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[4] == mountpoint:
                return parts[2]
    return None


def abort_connection(mountpoint):
    """Makes every request blocked on the mount return ENOTCONN (readers end, the run reports)."""
    dev = fuse_device(mountpoint)
    if dev and dev.startswith("0:"):
        try:
            with open(f"/sys/fs/fuse/connections/{dev.split(':')[1]}/abort", "w") as f:
                f.write("1")
        except OSError as e:
            log(f"cannot abort the FUSE connection: {e}")


def usage(pid):
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    return {
        "rss_mib": int(status["VmRSS"].split()[0]) / 1024,
        "hwm_mib": int(status["VmHWM"].split()[0]) / 1024,
        "threads": int(status["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def thread_stacks(pid):
    """gdb's stacks of every thread (bounded), else the kernel's wait channels."""
    if shutil.which("gdb"):
        try:
            out = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                                 capture_output=True, text=True, timeout=120)
            return out.stdout[-20000:]
        except subprocess.TimeoutExpired:
            pass
    lines = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/wchan") as f:
                lines.append(f"{tid}: {f.read()}")
        except OSError:
            pass
    return "\n".join(lines)


def regular_files(repo, rev):
    """(path, blob id) of every regular file of rev, in ls-tree order."""
    out = subprocess.run(["git", "-C", repo, "ls-tree", "-r", "-z", rev], check=True,
                         capture_output=True).stdout.decode(errors="surrogateescape")
    files = []
    for entry in out.split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        mode, kind, oid = meta.split()
        if kind == "blob" and mode in ("100644", "100755"):
            files.append((path, oid))
    return files


def blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Run:
    def __init__(self, args):
        self.a = args
        self.work = tempfile.mkdtemp(prefix="megafuse-corpus-readers-", dir=args.workdir)
        self.mnt = os.path.join(self.work, "mnt")
        self.cache = os.path.join(self.work, "cache")
        os.makedirs(self.mnt)
        self.git_daemon = None
        self.daemon = None
        self.lock = threading.Lock()
        self.files_read = 0
        self.bytes_read = 0
        self.errors = 0
        self.first_errors = []
        self.stalled = False
        self.stop = threading.Event()

    def start_git_daemon(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.git_daemon = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", f"--base-path={self.a.corpus}/corpus",
             "--export-all", "--enable=upload-pack", "--informative-errors",
             "--listen=127.0.0.1", f"--port={port}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.work, "git-daemon.log"), "ab"), start_new_session=True)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"git://127.0.0.1:{port}/linux.git"
            except OSError:
                if time.time() > deadline or self.git_daemon.poll() is not None:
                    raise SystemExit("git daemon did not start")
                time.sleep(0.05)

    def mount(self, url):
        logf = open(os.path.join(self.work, "mega-fused.log"), "ab")
        self.daemon = subprocess.Popen(
            [self.a.mega_fused, "mount", url, self.mnt, "--rev", self.a.rev, "--cache-dir",
             self.cache, "--log-level", "info"],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            start_new_session=True)
        logf.close()
        deadline = time.time() + 600
        while not is_mounted(self.mnt):
            if self.daemon.poll() is not None or time.time() > deadline:
                raise SystemExit(f"not mounted; see {self.work}/mega-fused.log")
            time.sleep(0.05)

    def reader(self, files, deadline):
        for path, oid in files:
            if self.stop.is_set() or time.monotonic() > deadline:
                return
            error = None
            try:
                with open(os.path.join(self.mnt, path), "rb") as f:
                    data = f.read()
                if blob_id(data) != oid:
                    error = f"{path}: wrong bytes ({len(data)} bytes, not blob {oid})"
            except OSError as e:
                data = b""
                error = f"{path}: {os.strerror(e.errno) if e.errno else e}"
            with self.lock:
                self.files_read += 1
                self.bytes_read += len(data)
                if error:
                    self.errors += 1
                    if len(self.first_errors) < 20:
                        self.first_errors.append(error)

    def watch(self, threads):
        last, since = -1, time.monotonic()
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            with self.lock:
                done = self.files_read
            if done != last:
                last, since = done, time.monotonic()
            elif time.monotonic() - since > self.a.stall:
                self.stalled = True
                log(f"STALL: no read completed for {self.a.stall} s; the daemon's stacks:")
                print(thread_stacks(self.daemon.pid), file=sys.stderr)
                self.stop.set()
                abort_connection(self.mnt)
                return

    def run(self):
        repo = os.path.join(self.a.corpus, "corpus", "linux.git")
        files = regular_files(repo, self.a.rev)
        log(f"{len(files)} regular files at {self.a.rev} of {repo}")
        url = self.start_git_daemon()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        started = time.monotonic()
        self.mount(url)
        mounted = time.monotonic() - started
        log(f"mounted {url} cold in {mounted:.1f} s; {self.a.readers} readers for "
            f"{self.a.duration} s")
        n = len(files)
        began = time.monotonic()
        deadline = began + self.a.duration
        threads = []
        for r in range(self.a.readers):
            part = files[n * r // self.a.readers:n * (r + 1) // self.a.readers]
            threads.append(threading.Thread(target=self.reader, args=(part, deadline)))
        for t in threads:
            t.start()
        self.watch(threads)
        for t in threads:
            t.join()
        elapsed = time.monotonic() - began
        alive = self.daemon.poll() is None
        figures = usage(self.daemon.pid) if alive else None
        print(f"readers:      {self.a.readers} (each its own slice of {n} files)")
        print(f"mount (cold): {mounted:.1f} s")
        print(f"files read:   {self.files_read} ({self.bytes_read / 2**20:.1f} MiB), "
              f"every byte hashed against Git's blob id")
        print(f"errors:       {self.errors}")
        for line in self.first_errors:
            print(f"  {line}")
        print(f"stall:        {'YES' if self.stalled else 'none'} (watchdog {self.a.stall} s)")
        print(f"elapsed:      {elapsed:.1f} s ({self.files_read / elapsed:.0f} files/s)")
        if figures:
            print(f"daemon:       RSS {figures['rss_mib']:.1f} MiB (peak "
                  f"{figures['hwm_mib']:.1f} MiB), threads {figures['threads']}, "
                  f"fds {figures['fds']}")
        else:
            print(f"daemon:       DEAD (status {self.daemon.returncode})")
        return 0 if alive and self.errors == 0 and not self.stalled else 1

    def cleanup(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                abort_connection(self.mnt)
                os.killpg(self.daemon.pid, signal.SIGKILL)
                self.daemon.wait()
        if is_mounted(self.mnt):
            subprocess.run(["fusermount3", "-uz", self.mnt], stderr=subprocess.DEVNULL)
        for proc in (self.daemon, self.git_daemon):
            if proc:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # children left in its group
                except ProcessLookupError:
                    pass
                proc.wait()
        if self.a.keep:
            log(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mega-fused", required=True, help="the mega-fused binary")
    ap.add_argument("--corpus", default="/var/tmp/mega-fuse-bench")
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--readers", type=int, default=50)
    ap.add_argument("--duration", type=int, default=300, help="seconds of reading")
    ap.add_argument("--stall", type=int, default=60, help="seconds without a read: a stall")
    ap.add_argument("--workdir", default="/var/tmp", help="where the run's cache and mount go")
    ap.add_argument("--keep", action="store_true", help="keep the cache, mount folder and logs")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (drop_caches, FUSE connection abort)")
    run = Run(args)
    try:
        return run.run()
    finally:
        run.cleanup()


if __name__ == "__main__":
    sys.exit(main())
