#!/usr/bin/env python3
"""Fault suite: acknowledged appends survive real faults exactly once, with no hand repair.

Runs the real `durastream serve` (a build with the `fault-points` feature, passed as --bin)
and, for each fault, runs idempotent producers that retry every request until it is
acknowledged, injects the fault, lets the server fail or recover as it must, restarts it
the way an operator would (SIGTERM or after a crash, never touching its files), and checks
every stream: each acknowledged record present exactly once and in order, nothing that
was never acknowledged, no producer refused with a false 409, every restart clean.

Faults are real where this machine allows: a full disk is a small tmpfs filled up, the
descriptor limit is `ulimit -n 1024`, torn tails and garbage are written into the files.
The rest (EIO on fsync, crashes inside a checkpoint or a log rotation, a full disk at one
exact step) go through fault points armed with FAILPOINTS.

Usage: tests/faults/fault_test.py --bin target/debug/durastream-faults [CASE...]
Prints a table (acknowledged / lost / duplicated / unacknowledged present / restarts) and
`N passed, N failed` as its last line.
"""

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "crash"))
from crash_test import Producer, free_port, read_all, request  # noqa: E402

SMALL_SEGMENTS = ["--wal-segment-bytes", "65536"]


STARTED = []  # every server of the running case, stopped when the case ends


class Server:
    """One server process on a fixed data directory and port, restartable."""

    def __init__(self, binary, data_dir, extra=(), env=None, nofile=None, log=None):
        self.port = free_port()
        self.args = [binary, "serve", "--data-dir", data_dir, "--bind", f"127.0.0.1:{self.port}", *extra]
        self.env = env
        self.nofile = nofile
        self.proc = None
        self.log_path = log or data_dir.rstrip("/") + ".log"
        self.starts = 0

    def start(self, env=None):
        limit = self.nofile

        def preexec():
            if limit:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        full_env = dict(os.environ)
        full_env.pop("FAILPOINTS", None)
        full_env.update(env if env is not None else (self.env or {}))
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=log, env=full_env, preexec_fn=preexec)
        STARTED.append(self.proc)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                status, _, _ = request(self.port, "GET", "/v1/stream/__health-probe?offset=-1", timeout=1)
                if status in (200, 404):
                    self.starts += 1
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited at start-up (code {self.proc.returncode}); see {self.log_path}")
            time.sleep(0.05)
        raise RuntimeError("server did not start listening")

    def term(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def wait_exit(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def log_tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""


class Load:
    """Idempotent producers on a few streams, retrying until acknowledged."""

    def __init__(self, server, name, streams=2, producers=4, size=64):
        self.server = server
        self.streams = [f"/v1/stream/{name}-{i}" for i in range(streams)]
        for s in self.streams:
            status, _, body = request(server.port, "PUT", s, headers={"Content-Type": "text/plain"})
            assert status in (200, 201), (status, body)
        self.stop = threading.Event()
        self.producers = [
            Producer(server.port, self.streams[i % streams], f"{name}p{i}", 10**9, self.stop) for i in range(producers)
        ]
        pad = "x" * max(0, size - 16)
        for p in self.producers:
            p.pad = pad

    def start(self):
        for p in self.producers:
            p.start()

    def acked(self):
        return sum(len(p.acked) for p in self.producers)

    def wait_for_acks(self, n, timeout=30):
        deadline = time.time() + timeout
        start = self.acked()
        while self.acked() < start + n and time.time() < deadline:
            time.sleep(0.02)
        return self.acked() - start

    def finish(self):
        self.stop.set()
        for p in self.producers:
            p.join(timeout=30)


def verify(port, load):
    """Returns (stats, failures) for every producer of `load`."""
    failures = []
    stats = {"acked": 0, "lost": 0, "duplicated": 0, "unacked": 0}
    bodies = {s: read_all(port, s) for s in load.streams}
    for p in load.producers:
        failures += [f"{p.name}: refused: {e}" for e in p.errors]
        lines = [l for l in bodies[p.stream].decode().splitlines() if l.startswith(p.name + ":")]
        seqs = [int(l.split(":")[1]) for l in lines]
        stats["acked"] += len(p.acked)
        dups = len(seqs) - len(set(seqs))
        stats["duplicated"] += dups
        if seqs != sorted(set(seqs)):
            failures.append(f"{p.name}: out of order or duplicated ({dups} duplicates)")
        lost = set(p.acked) - set(seqs)
        stats["lost"] += len(lost)
        if lost:
            failures.append(f"{p.name}: {len(lost)} acknowledged records lost, e.g. {sorted(lost)[:5]}")
        extra = set(seqs) - set(p.acked)
        stats["unacked"] += len(extra)
        if len(extra) > 1:  # the one request in flight when stopped may have landed
            failures.append(f"{p.name}: {len(extra)} records present but never acknowledged")
    return stats, failures


def status_of(port, method, path, body=b"", headers=None):
    try:
        return request(port, method, path, body, headers)
    except OSError as e:
        return (0, {}, str(e).encode())


def expect_refusing_writes(server, load, failures):
    """While storage is failed: writes 503 with Retry-After, reads still 200."""
    deadline = time.time() + 10
    while time.time() < deadline:
        status, headers, _ = status_of(
            server.port, "POST", load.streams[0], b"probe\n", {"Content-Type": "text/plain"}
        )
        if status == 503:
            if "retry-after" not in headers:
                failures.append("503 without Retry-After")
            break
        time.sleep(0.05)
    else:
        failures.append("writes were never refused after the fault")
    status, _, _ = status_of(server.port, "GET", load.streams[0] + "?offset=-1")
    if status != 200:
        failures.append(f"reads fail while writes are refused: HTTP {status}")


# --- the faults -------------------------------------------------------------------------

def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], check=True)


def fill(path):
    """Writes a filler file until the disk is full; returns its path."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 512, 1):
            chunk = b"\0" * size
            try:
                while os.write(fd, chunk) > 0:
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def case_disk_full_log(binary, tmp):
    """A real full disk under load; SIGTERM while still full; space freed; restart."""
    mnt = os.path.join(tmp, "mnt")
    mount_tmpfs(mnt, "24m")
    try:
        server = Server(binary, os.path.join(mnt, "data"), SMALL_SEGMENTS, log=os.path.join(tmp, "server.log"))
        server.start()
        load = Load(server, "full", size=512)
        load.start()
        load.wait_for_acks(300)
        filler = fill(mnt)
        failures = []
        expect_refusing_writes(server, load, failures)
        server.term()  # graceful shutdown with the disk still full
        os.remove(filler)
        server.start()  # no hand repair
        load.wait_for_acks(300)
        load.finish()
        stats, more = verify(server.port, load)
        server.term()
        return stats, failures + more, server.starts
    finally:
        subprocess.run(["umount", "-l", mnt], check=False)


def case_disk_full_small_appends(binary, tmp):
    """The disk fills between appends: small appends to many streams, as in the report."""
    mnt = os.path.join(tmp, "mnt2")
    mount_tmpfs(mnt, "8m")
    try:
        server = Server(binary, os.path.join(mnt, "data"), log=os.path.join(tmp, "server.log"))
        server.start()
        streams = [f"/v1/stream/small-{i}" for i in range(300)]
        for s in streams:
            status, _, _ = request(server.port, "PUT", s, headers={"Content-Type": "text/plain"})
            assert status == 201, status
        filler = fill(mnt)
        acked = {}
        for i, s in enumerate(streams):
            body = f"record-{i}:" + "y" * 90
            status, _, _ = status_of(server.port, "POST", s, body.encode(), {"Content-Type": "text/plain"})
            if status in (200, 204):
                acked[s] = body
        server.term()
        os.remove(filler)
        server.start()
        failures = []
        lost = 0
        unacked = 0
        for s in streams:
            got = read_all(server.port, s).decode()
            if s in acked and got != acked[s]:
                lost += 1
            if s not in acked and got:
                unacked += 1
        if lost:
            failures.append(f"{lost} acknowledged appends lost")
        if unacked:
            failures.append(f"{unacked} unacknowledged appends present")
        server.term()
        stats = {"acked": len(acked), "lost": lost, "duplicated": 0, "unacked": unacked}
        return stats, failures, server.starts
    finally:
        subprocess.run(["umount", "-l", mnt], check=False)


def case_emfile(binary, tmp):
    """`ulimit -n 1024`, 1,100 written streams and 100 idle connections: nothing lost, no wedge."""
    import socket
    from concurrent.futures import ThreadPoolExecutor

    server = Server(binary, os.path.join(tmp, "emfile"), nofile=1024)
    server.start()
    idle = []
    for _ in range(100):
        idle.append(socket.create_connection(("127.0.0.1", server.port)))
    streams = [f"/v1/stream/fd-{i}" for i in range(1100)]

    def write(s):
        for _ in range(50):
            status, _, _ = status_of(server.port, "PUT", s, headers={"Content-Type": "text/plain"})
            if status in (200, 201):
                break
            time.sleep(0.05)
        for _ in range(50):
            status, _, _ = status_of(server.port, "POST", s, (s + "-" + "z" * 80).encode(), {"Content-Type": "text/plain"})
            if status in (200, 204):
                return True
            time.sleep(0.05)
        return False

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(write, streams))
    time.sleep(0.3)  # let a background flush touch every file
    failures = []
    acked = [s for s, ok in zip(streams, results) if ok]
    if len(acked) != len(streams):
        failures.append(f"only {len(acked)} of {len(streams)} appends acknowledged")
    status, _, _ = status_of(server.port, "GET", streams[0] + "?offset=-1")
    if status != 200:
        failures.append(f"a new client is not served after 1,100 streams: HTTP {status}")
    for c in idle:
        c.close()
    server.term()
    server.start()
    lost = sum(1 for s in acked if read_all(server.port, s).decode() != s + "-" + "z" * 80)
    if lost:
        failures.append(f"{lost} acknowledged appends lost after restart")
    server.term()
    return {"acked": len(acked), "lost": lost, "duplicated": 0, "unacked": 0}, failures, server.starts


def fault_point_case(binary, tmp, name, failpoints, expect_503=False, crash=False, extra=SMALL_SEGMENTS):
    """Producers under load with FAILPOINTS armed; then a clean restart."""
    server = Server(binary, os.path.join(tmp, name), extra, env={"FAILPOINTS": failpoints})
    server.start()
    load = Load(server, name.replace("-", ""), size=256)
    load.start()
    failures = []
    if crash:
        if not server.wait_exit(60):
            failures.append("the crash point was never reached")
            server.kill9()
    else:
        load.wait_for_acks(300 if expect_503 else 1500, timeout=10)
        if expect_503:
            expect_refusing_writes(server, load, failures)
        server.term()
    server.start(env={})  # restart without faults and without hand repair
    load.wait_for_acks(300)
    load.finish()
    stats, more = verify(server.port, load)
    server.term()
    return stats, failures + more, server.starts


def damaged_after_kill(binary, tmp, name, damage):
    """Load, `kill -9`, `damage(data_dir)` the files as a crash or a bad disk would, restart."""
    data_dir = os.path.join(tmp, name)
    server = Server(binary, data_dir)
    server.start()
    load = Load(server, name)
    load.start()
    load.wait_for_acks(400)
    server.kill9()
    damage(data_dir)
    server.start()
    load.wait_for_acks(200)
    load.finish()
    stats, failures = verify(server.port, load)
    server.term()
    return stats, failures, server.starts


def tear_log_tail(data_dir):
    wal = os.path.join(data_dir, "wal")
    last = sorted(os.listdir(wal))[-1]
    with open(os.path.join(wal, last), "ab") as f:
        f.write(b"\x30\x00\x00\x00\x12\x34\x56\x78partial-record")  # a header promising more


def garbage_after_data(data_dir):
    data = os.path.join(data_dir, "data")
    for name in os.listdir(data):
        with open(os.path.join(data, name), "ab") as f:
            f.write(b"garbage after the end, never acknowledged\n")


CASES = {
    "disk-full-log": case_disk_full_log,
    "disk-full-small-appends": case_disk_full_small_appends,
    "disk-full-data-flush": lambda b, t: fault_point_case(b, t, "data-flush", "data-write=return(enospc)"),
    "disk-full-checkpoint": lambda b, t: fault_point_case(b, t, "catalog", "catalog-write=1*off->return(enospc)"),
    "emfile": case_emfile,
    "eio-log-fsync": lambda b, t: fault_point_case(b, t, "eio-log", "wal-sync=200*off->return(eio)", expect_503=True),
    "eio-data-fsync": lambda b, t: fault_point_case(b, t, "eio-data", "data-sync=return(eio)", expect_503=True),
    "torn-log-tail": lambda b, t: damaged_after_kill(b, t, "torn", tear_log_tail),
    "garbage-after-data": lambda b, t: damaged_after_kill(b, t, "garbage", garbage_after_data),
    "crash-before-catalog": lambda b, t: fault_point_case(b, t, "ck1", "checkpoint-before-catalog=1*off->return", crash=True),
    "crash-after-catalog": lambda b, t: fault_point_case(b, t, "ck2", "checkpoint-after-catalog=1*off->return", crash=True),
    "crash-after-trim": lambda b, t: fault_point_case(b, t, "ck3", "checkpoint-after-trim=1*off->return", crash=True),
    "crash-in-rotation-before-create": lambda b, t: fault_point_case(b, t, "rot1", "rotate-before-create=2*off->return", crash=True),
    "crash-in-rotation-after-create": lambda b, t: fault_point_case(b, t, "rot2", "rotate-after-create=2*off->return", crash=True),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="durastream built with --features fault-points")
    ap.add_argument("cases", nargs="*", help=f"default: all of {', '.join(CASES)}")
    args = ap.parse_args()
    names = args.cases or list(CASES)
    passed = failed = 0
    print(f"{'fault':34} {'acked':>7} {'lost':>5} {'dup':>4} {'unacked':>8} {'restarts':>9}  result")
    for name in names:
        tmp = tempfile.mkdtemp(prefix=f"durastream-fault-{name}-")
        started = time.time()
        try:
            stats, failures, starts = CASES[name](args.bin, tmp)
        except Exception as e:  # a case that cannot even run is a failure with its reason
            stats, failures, starts = {"acked": 0, "lost": 0, "duplicated": 0, "unacked": 0}, [f"error: {e!r}"], 0
        for proc in STARTED:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        STARTED.clear()
        ok = not failures
        passed, failed = passed + ok, failed + (not ok)
        print(
            f"{name:34} {stats['acked']:>7} {stats['lost']:>5} {stats['duplicated']:>4} {stats['unacked']:>8} "
            f"{starts:>9}  {'ok' if ok else 'FAILED'} ({time.time() - started:.1f} s)",
            flush=True,
        )
        for f in failures:
            print(f"    {f}")
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"    files kept in {tmp}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
