#!/usr/bin/env python3
"""Restart time after `kill -9` with a long log: how long recovery takes to replay it.

Starts the release `durastream serve`, appends N records (default 100,000 of 256 B over
100 streams, with wrk) without letting a checkpoint trim the log, kills the server with
SIGKILL, restarts it on the same data directory and measures the time until it answers,
then checks that every stream holds what was acknowledged.

Usage: tests/bench/recovery.py [--records N] [--bin PATH]
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wrkload  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def wait_ready(port, proc, timeout=60):
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return time.perf_counter() - start
        except OSError:
            time.sleep(0.002)
    raise RuntimeError("server did not start")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--bin", default=os.path.join(TARGET, "release", "durastream"))
    args = ap.parse_args()
    wrkload.ensure_tools("wrk")
    tmp = tempfile.mkdtemp(prefix="ds-recovery-")
    data = os.path.join(tmp, "data")
    port = wrkload._free_port()
    # One log segment holds every record: nothing is checkpointed before the kill.
    argv = [args.bin, "serve", "--bind", f"127.0.0.1:{port}", "--data-dir", data,
            "--wal-segment-bytes", str(1 << 30)]
    log = open(os.path.join(tmp, "server.log"), "wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=log)
    wait_ready(port, proc)
    run_id = "rec"
    prefix = f"/v1/stream/wrk-{run_id}-"
    for i in range(100):
        wrkload.request(port, "PUT", f"{prefix}{i}", headers={"Content-Type": "application/octet-stream"})
    done = 0
    while done < args.records:
        s = wrkload.run_wrk(port, "append.lua", prefix, 64, 1)
        done += s["requests"]
    sizes = {}
    for i in range(100):
        status, body = wrkload.request(port, "GET", f"{prefix}{i}?offset=-1")
        sizes[i] = len(body)
    wal = os.path.join(data, "wal")
    log_bytes = sum(os.path.getsize(os.path.join(wal, f)) for f in os.listdir(wal))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc = subprocess.Popen(argv, stdout=log, stderr=log)
    took = wait_ready(port, proc)
    lost = 0
    for i in range(100):
        total = 0
        offset = "-1"
        while True:
            conn = __import__("http.client").client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", f"{prefix}{i}?offset={offset}")
            r = conn.getresponse()
            body = r.read()
            total += len(body)
            offset = r.getheader("Stream-Next-Offset")
            up = r.getheader("Stream-Up-To-Date") == "true"
            conn.close()
            if up:
                break
        if total < sizes[i] and sizes[i] < (1 << 20):
            lost += 1
    proc.terminate()
    proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"records in the log: {done:,} ({log_bytes / 1e6:.1f} MB); restart after kill -9: {took * 1000:.0f} ms; "
          f"streams shorter than before: {lost}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
