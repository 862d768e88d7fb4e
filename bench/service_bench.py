#!/usr/bin/env python3
"""mega-fuse service benchmark: control-path latency and idle memory (issue 3's goals).

Not a test: never run in CI. Starts its own dbus-daemon and mega-fused (service mode) with N
automount mounts of one local repository (a cached source: no clone, no network), then measures

  list      `megactl list` wall time, p50/p99 (goal p99 <= 20 ms)
  mount     a D-Bus Mount call for a configured, unmounted mount of the cached source, timed
            inside one `busctl` process per call, p50/p99 (goal <= 100 ms)
  rss       the daemon's VmRSS with N idle mounts (goal <= 100 MB at N = 100)

for N in --mounts (default 1,100). The reference measured in the same run is a trivial D-Bus
round trip from a fresh process (`busctl call org.freedesktop.DBus GetId`): process start and
bus connection cost, which every `megactl` call also pays. Figures are printed as a markdown
table. Everything started here is stopped by PID and every mount unmounted, in every outcome.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

BUS_NAME = "com.gitmega.MegaFuse1"
MOUNT_IFACE = "com.gitmega.MegaFuse1.Mount"


def log(msg):
    print(f"[service-bench] {msg}", file=sys.stderr, flush=True)


def percentile(samples, p):
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1)))))
    return ordered[k]


def path_encode(name):
    # sd_bus_path_encode: every byte outside [A-Za-z0-9] becomes _XX (lower-case hex).
    out = []
    for b in name.encode():
        c = chr(b)
        out.append(c if c.isascii() and c.isalnum() else f"_{b:02x}")
    return "".join(out)


def find_binaries(explicit):
    """mega-fused and megactl from ONE folder: a daemon and a client of different builds would
    measure neither (a newer megactl falls back to the generic listing of an older daemon)."""
    here = os.path.dirname(os.path.abspath(__file__))
    folders = [explicit] if explicit else [os.path.join(here, "..", b, "bin")
                                           for b in ("build-bench", "build")]
    for folder in folders:
        fused, ctl = (os.path.join(folder, n) for n in ("mega-fused", "megactl"))
        if os.access(fused, os.X_OK) and os.access(ctl, os.X_OK):
            return os.path.abspath(fused), os.path.abspath(ctl)
    fused, ctl = shutil.which("mega-fused"), shutil.which("megactl")
    if not (fused and ctl and os.path.dirname(fused) == os.path.dirname(ctl)):
        sys.exit("service-bench: no folder with both mega-fused and megactl "
                 "(build them, or pass --binary-dir)")
    return fused, ctl


def fuse_mounts_under(root):
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split()
            mp = fields[4].replace("\\040", " ")
            if mp.startswith(root + "/") and " - fuse" in line:
                found.append(mp)
    return found


class Run:
    """One dbus-daemon + one mega-fused with N mounts, torn down by PID."""

    def __init__(self, args, work, mounts):
        self.args = args
        self.work = work
        self.mounts = mounts
        self.bus_pid = None
        self.daemon = None
        self.env = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self, repo):
        home = os.path.join(self.work, f"home-{self.mounts}")
        for sub in ("config", "cache", "state", "data", "mnt"):
            os.makedirs(os.path.join(home, sub), exist_ok=True)
        self.mnt = os.path.join(home, "mnt")
        bus_path = os.path.join(home, "bus")
        out = subprocess.run(
            ["dbus-daemon", "--session", f"--address=unix:path={bus_path}", "--fork",
             "--print-pid", "--nopidfile"],
            check=True, capture_output=True, text=True)
        self.bus_pid = int(out.stdout.split()[0])
        self.address = f"unix:path={bus_path}"
        self.env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=self.address,
                        XDG_CONFIG_HOME=os.path.join(home, "config"),
                        XDG_CACHE_HOME=os.path.join(home, "cache"),
                        XDG_STATE_HOME=os.path.join(home, "state"),
                        XDG_DATA_HOME=os.path.join(home, "data"))
        lines = ["log_level: warn", "mounts:"]
        for i in range(self.mounts):
            mp = os.path.join(self.mnt, f"m{i:03d}")
            os.makedirs(mp, exist_ok=True)
            lines += [f"  - name: m{i:03d}", f"    source: {repo}", f"    mountpoint: {mp}"]
        # The probe mount: configured, not automounted; the Mount latency is measured on it.
        probe = os.path.join(self.mnt, "probe")
        os.makedirs(probe, exist_ok=True)
        lines += ["  - name: probe", f"    source: {repo}", f"    mountpoint: {probe}",
                  "    automount: false"]
        config = os.path.join(home, "config.yaml")
        with open(config, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        self.log_file = open(os.path.join(home, "daemon.log"), "wb")
        self.daemon = subprocess.Popen([self.args.fused, "--config", config], env=self.env,
                                       stdout=self.log_file, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.daemon.poll() is not None:
                raise RuntimeError(f"mega-fused exited with {self.daemon.returncode}; "
                                   f"log: {self.log_file.name}")
            mounted = self.mounted_count()
            if mounted == self.mounts:
                return
            time.sleep(0.2)
        raise RuntimeError(f"only {self.mounted_count()} of {self.mounts} mounts came up")

    def mounted_count(self):
        r = subprocess.run([self.args.megactl, "--json", "list"], env=self.env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            return -1
        doc = json.loads(r.stdout)
        items = doc.get("mounts", doc) if isinstance(doc, dict) else doc
        return sum(1 for m in items if m.get("state") == "mounted")

    def timed(self, argv, runs):
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            r = subprocess.run(argv, env=self.env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
            samples.append((time.perf_counter() - start) * 1000.0)
            if r.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)} failed: {r.stderr.strip()}")
        return samples

    def busctl(self, *call):
        return ["busctl", f"--address={self.address}", "call", *call]

    def reference(self, runs):
        return self.timed(self.busctl("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                      "org.freedesktop.DBus", "GetId"), runs)

    def list_latency(self, runs):
        return self.timed([self.args.megactl, "list"], runs)

    def mount_latency(self, runs):
        path = f"/com/gitmega/MegaFuse1/mounts/{path_encode('probe')}"
        mount = self.busctl(BUS_NAME, path, MOUNT_IFACE, "Mount", "a{sv}", "0")
        unmount = self.busctl(BUS_NAME, path, MOUNT_IFACE, "Unmount", "a{sv}", "0")
        samples = []
        for _ in range(runs):
            samples += self.timed(mount, 1)
            self.timed(unmount, 1)
        return samples

    def rss_mb(self):
        with open(f"/proc/{self.daemon.pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return float("nan")

    def stop(self):
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.daemon.pid, signal.SIGKILL)
                self.daemon.wait()
        if self.daemon is not None:
            self.log_file.close()
        self.daemon = None
        for mp in fuse_mounts_under(self.work):
            subprocess.run(["fusermount3", "-uz", mp], stderr=subprocess.DEVNULL)
        if self.bus_pid is not None:
            try:
                os.kill(self.bus_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self.bus_pid = None


def make_repo(work):
    repo = os.path.join(work, "repo")
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com",
               GIT_AUTHOR_DATE="2026-01-01T00:00:00Z", GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")
    subprocess.run(["git", "init", "-q", "-b", "main", repo], check=True, env=env)
    for d in range(20):
        os.makedirs(os.path.join(repo, f"dir{d:02d}"), exist_ok=True)
        for i in range(50):
            with open(os.path.join(repo, f"dir{d:02d}", f"file{i:02d}.txt"), "w") as f:
                f.write(f"{d} {i}\n" * 20)
    subprocess.run(["git", "-C", repo, "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", repo, "commit", "-qm", "bench"], check=True, env=env)
    return repo


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary-dir", help="folder with mega-fused and megactl "
                    "(default: build-bench/bin, then build/bin, then PATH)")
    ap.add_argument("--mounts", default="1,100", help="mount counts to measure, comma-separated")
    ap.add_argument("--runs", type=int, default=200, help="samples per latency figure")
    ap.add_argument("--mount-runs", type=int, default=50, help="Mount/Unmount cycles")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = ap.parse_args()
    args.fused, args.megactl = find_binaries(args.binary_dir)
    log(f"binaries: {args.fused}, {args.megactl}")
    if os.geteuid() != 0:
        sys.exit("service-bench: run as root (FUSE mounts of the daemon)")

    work = tempfile.mkdtemp(prefix="mega-fuse-svcbench-", dir="/var/tmp")
    rows = []
    try:
        repo = make_repo(work)
        for n in [int(x) for x in args.mounts.split(",")]:
            log(f"{n} mounts: starting")
            with Run(args, work, n) as run:
                run.start(repo)
                ref = run.reference(args.runs)
                lst = run.list_latency(args.runs)
                mnt = run.mount_latency(args.mount_runs)
                rss = run.rss_mb()
                rows.append((n, ref, lst, mnt, rss))
                log(f"{n} mounts: done")
    finally:
        for mp in fuse_mounts_under(work):
            subprocess.run(["fusermount3", "-uz", mp], stderr=subprocess.DEVNULL)
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nmachine: {os.cpu_count()} cpus, {os.uname().release}; runs: {args.runs} "
          f"(list), {args.mount_runs} (mount)\n")
    print("| mounts | reference: busctl GetId p50 / p99 | megactl list p50 / p99 (goal p99 "
          "<= 20 ms) | D-Bus Mount, cached source, p50 / p99 (goal <= 100 ms) | daemon RSS "
          "(goal <= 100 MB at 100) |")
    print("|---|---|---|---|---|")
    for n, ref, lst, mnt, rss in rows:
        print(f"| {n} | {statistics.median(ref):.1f} / {percentile(ref, 99):.1f} ms "
              f"| {statistics.median(lst):.1f} / {percentile(lst, 99):.1f} ms "
              f"({percentile(lst, 99) / percentile(ref, 99):.2f}x ref) "
              f"| {statistics.median(mnt):.1f} / {percentile(mnt, 99):.1f} ms "
              f"({percentile(mnt, 99) / percentile(ref, 99):.2f}x ref) "
              f"| {rss:.1f} MB |")


if __name__ == "__main__":
    main()
