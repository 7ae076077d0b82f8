#!/usr/bin/env python3
"""Crash test: acknowledged appends survive kill -9, exactly once.

Starts the real `durastream serve` on the file engine (default fsync policy), runs several
idempotent producers appending concurrently to a few streams, and kills the server with
SIGKILL several times while they write. Each producer retries every request with the same
(id, epoch, seq) until the server acknowledges it, as a correct client does. At the end
every stream is read back and checked: each acknowledged record is present exactly once,
in each producer's order, and nothing else is there.

Usage: tests/crash/crash_test.py [--kills N] [--producers N] [--bin PATH]
Prints `N passed, N failed` as its last line.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The server process, restartable on the same data directory and port."""

    def __init__(self, binary, data_dir, port):
        self.args = [binary, "serve", "--data-dir", data_dir, "--bind", f"127.0.0.1:{port}"]
        self.port = port
        self.proc = None
        self.log = open(os.path.join(data_dir + ".log"), "ab")

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("server exited at start-up; see the log")
                time.sleep(0.05)
        raise RuntimeError("server did not start listening")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


def request(port, method, path, body=b"", headers=None, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), resp.read()
    finally:
        conn.close()


class Producer(threading.Thread):
    """Appends `count` records with one producer id, retrying each until acknowledged."""

    def __init__(self, port, stream, name, count, stop):
        super().__init__(daemon=True)
        self.port, self.stream, self.name, self.count, self.stop = port, stream, name, count, stop
        self.acked = []
        self.errors = []

    def run(self):
        seq = 0
        while seq < self.count and not self.stop.is_set():
            record = f"{self.name}:{seq}:{getattr(self, 'pad', '')}\n".encode()
            headers = {
                "Content-Type": "text/plain",
                "Producer-Id": self.name,
                "Producer-Epoch": "0",
                "Producer-Seq": str(seq),
            }
            try:
                status, _, body = request(self.port, "POST", self.stream, record, headers)
            except OSError:
                time.sleep(0.02)  # server down: retry the same request
                continue
            if status in (200, 204):
                self.acked.append(seq)
                seq += 1
            elif status >= 500:
                time.sleep(0.02)
            else:
                self.errors.append(f"seq {seq}: HTTP {status} {body[:200]!r}")
                return


def read_all(port, stream):
    out, offset = b"", "-1"
    while True:
        status, headers, body = request(port, "GET", f"{stream}?offset={offset}")
        if status != 200:
            raise RuntimeError(f"read {stream}: HTTP {status}")
        out += body
        offset = headers["stream-next-offset"]
        if headers.get("stream-up-to-date") == "true":
            return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--producers", type=int, default=6)
    ap.add_argument("--records", type=int, default=100000, help="upper bound per producer")
    ap.add_argument("--bin", default=os.environ.get("DURASTREAM_BIN", os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "durastream")))
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="durastream-crash-")
    server = Server(args.bin, os.path.join(tmp, "data"), free_port())
    server.start()
    streams = [f"/v1/stream/crash-{i}" for i in range(3)]
    for s in streams:
        status, _, _ = request(server.port, "PUT", s, headers={"Content-Type": "text/plain"})
        assert status == 201, status
    stop = threading.Event()
    producers = [
        Producer(server.port, streams[i % len(streams)], f"p{i}", args.records, stop) for i in range(args.producers)
    ]
    for p in producers:
        p.start()
    rng = random.Random(7)
    for k in range(args.kills):
        time.sleep(rng.uniform(0.4, 1.2))
        before = sum(len(p.acked) for p in producers)
        server.kill9()
        print(f"kill -9 #{k + 1}: {before} records acknowledged so far", flush=True)
        time.sleep(rng.uniform(0.05, 0.3))
        server.start()
    time.sleep(0.5)
    stop.set()
    for p in producers:
        p.join(timeout=30)

    failures = []
    for p in producers:
        failures += [f"{p.name}: {e}" for e in p.errors]
    by_stream = {s: read_all(server.port, s) for s in streams}
    server.stop()
    total = 0
    for p in producers:
        lines = [l for l in by_stream[p.stream].decode().splitlines() if l.startswith(p.name + ":")]
        seqs = [int(l.split(":")[1]) for l in lines]
        total += len(p.acked)
        if seqs != list(range(len(seqs))):
            dups = len(seqs) - len(set(seqs))
            failures.append(f"{p.name}: records out of order or duplicated ({dups} duplicates)")
        missing = set(p.acked) - set(seqs)
        if missing:
            failures.append(f"{p.name}: {len(missing)} acknowledged records lost, e.g. {sorted(missing)[:5]}")
        extra = set(seqs) - set(p.acked)
        if len(extra) > 1:  # only the one in flight when stopped may be unacknowledged
            failures.append(f"{p.name}: {len(extra)} records present but never acknowledged")
    for s, body in by_stream.items():
        bad = [l for l in body.decode().splitlines() if ":" not in l]
        if bad:
            failures.append(f"{s}: {len(bad)} malformed lines")
    print(json.dumps({"kills": args.kills, "producers": len(producers), "acknowledged": total, "failures": failures}, indent=1))
    checks = len(producers) * 3 + len(streams)
    failed = len(failures)
    if failed:
        print(f"data and server log kept for inspection in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{checks - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
