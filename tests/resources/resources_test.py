#!/usr/bin/env python3
"""Resource bounds: one client cannot exhaust the server.

Runs the real `durastream serve` (file engine, one fresh process per check so that each
memory peak is its own) and checks:

1. slow-bodies: 1,050 connections that send headers and a trickle of body never stop a
   new client from being served promptly; each slow request gets 408 once
   --body-read-timeout-ms passes.
2. connection-cap: with --max-connections below the flood, a client that was already
   connected keeps being served, a new client waits (it is not accepted) until the slow
   requests time out, and is then served.
3. parallel-appends: 16 concurrent 60 MB appends under --max-inflight-body-bytes; requests
   past the cap get 503 + Retry-After and succeed on retry; the server's peak memory
   (VmHWM) stays within what the flags allow.
4. json-array: one 62 MB JSON array of tiny items peaks at most 3x the body above the
   server's baseline.
5. unknown-subscriptions: 9,000 requests to unknown subscription ids leave memory flat.

Usage: tests/resources/resources_test.py [--bin PATH] [--only NAME ...] [--report]
                                        [--legacy] [--nofile N]
--report prints the measurements without failing; --legacy drops the flags an older binary
does not know (both to measure a binary from before the bounds); --nofile sets the server's
open-file limit in slow-bodies (default 4096).
Prints `N passed, N failed` as its last line.
"""

import argparse
import http.client
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MB = 1024 * 1024
PREFIX = "/v1/stream"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


NEW_FLAGS = ("--max-connections", "--body-read-timeout-ms", "--max-inflight-body-bytes")
LEGACY = False


class Server:
    """One server process on a fresh data directory."""

    def __init__(self, binary, args=(), nofile=None):
        if LEGACY:
            args = [a for i, a in enumerate(args)
                    if a not in NEW_FLAGS and (i == 0 or args[i - 1] not in NEW_FLAGS)]
        self.dir = tempfile.mkdtemp(prefix="durastream-resources-")
        self.port = free_port()
        cmd = [binary, "serve", "--data-dir", os.path.join(self.dir, "data"),
               "--bind", f"127.0.0.1:{self.port}", *args]
        self.log = open(os.path.join(self.dir, "server.log"), "wb")

        def limits():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        env = dict(os.environ, DURASTREAM_LOG="info")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, preexec_fn=limits,
                                     env=env)
        deadline = time.time() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("server did not start: " + self.log_text())
                time.sleep(0.05)

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def rss_mb(self):
        return proc_kb(self.proc.pid, "VmRSS") / 1024

    def peak_mb(self):
        return proc_kb(self.proc.pid, "VmHWM") / 1024

    def log_text(self):
        with open(os.path.join(self.dir, "server.log"), "rb") as f:
            return f.read().decode(errors="replace")[-2000:]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()


def create(conn, name, content_type="application/octet-stream"):
    status, _, body = request(conn, "PUT", f"{PREFIX}/{name}", headers={"Content-Type": content_type})
    assert status in (200, 201), (status, body)


def open_slow(port, count, name):
    """Opens `count` connections that send a request head promising 1,000 body bytes and
    then only 10 of them."""
    socks = []
    head = (f"POST {PREFIX}/{name} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"
            ).encode() + b"x" * 10
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(head)
        socks.append(s)
    return socks


def statuses(socks, timeout):
    """The status line each slow connection eventually receives (None when none did)."""
    out = []
    deadline = time.time() + timeout
    for s in socks:
        s.settimeout(max(0.05, deadline - time.time()))
        try:
            data = s.recv(64)
            out.append(int(data.split()[1]) if data.startswith(b"HTTP/1.1 ") else None)
        except OSError:
            out.append(None)
        s.close()
    return out


def timed_requests(conn, name, n):
    """`n` appends and reads on `conn`; returns the slowest one, in seconds."""
    worst = 0.0
    for i in range(n):
        t = time.time()
        status, _, _ = request(conn, "POST", f"{PREFIX}/{name}", body=b"ok %d" % i,
                               headers={"Content-Type": "application/octet-stream"})
        assert status in (200, 204), status
        status, _, _ = request(conn, "GET", f"{PREFIX}/{name}?offset=-1")
        assert status == 200, status
        worst = max(worst, time.time() - t)
    return worst


class Checks:
    def __init__(self, binary, report, nofile):
        self.binary = binary
        self.nofile = nofile
        self.report = report
        self.passed = 0
        self.failed = 0
        self.numbers = {}

    def expect(self, name, ok, detail):
        verdict = "ok" if ok else ("measured" if self.report else "FAIL")
        print(f"  {verdict}: {detail}", flush=True)
        if ok or self.report:
            return
        raise AssertionError(f"{name}: {detail}")

    def run(self, name, fn):
        print(f"== {name}", flush=True)
        start = time.time()
        try:
            fn()
            self.passed += 1
            print(f"   {name} passed in {time.time() - start:.1f} s", flush=True)
        except Exception as e:  # one check failing must not hide the others
            self.failed += 1
            print(f"   {name} FAILED in {time.time() - start:.1f} s: {e!r}", flush=True)

    def slow_bodies(self):
        timeout_ms = 3000
        srv = Server(self.binary, ["--body-read-timeout-ms", str(timeout_ms)], nofile=self.nofile)
        try:
            good = srv.conn(timeout=10)
            create(good, "slow")
            create(good, "good")
            good.close()
            socks = open_slow(srv.port, 1050, "slow")
            time.sleep(0.5)
            fresh = srv.conn(timeout=10)
            try:
                worst = timed_requests(fresh, "good", 20)
            except OSError as e:
                worst = float("inf")
                print(f"  new client failed: {e!r}")
            self.expect("slow-bodies", worst < 1.0,
                        f"a new client is served while 1,050 slow bodies are open: "
                        f"slowest of 20 append+read pairs {worst * 1000:.0f} ms")
            got = statuses(socks, timeout_ms / 1000 + 10)
            n408 = got.count(408)
            self.expect("slow-bodies", n408 == len(got),
                        f"{n408} of {len(got)} slow requests answered 408 after the "
                        f"{timeout_ms} ms body-read timeout (others: "
                        f"{sorted(set(x for x in got if x != 408), key=str)})")
        finally:
            srv.stop()

    def connection_cap(self):
        timeout_ms = 5000
        srv = Server(self.binary, ["--max-connections", "300",
                                   "--body-read-timeout-ms", str(timeout_ms)])
        try:
            existing = srv.conn(timeout=10)
            create(existing, "slow")
            create(existing, "good")
            socks = open_slow(srv.port, 400, "slow")
            time.sleep(0.3)
            waiting = srv.conn(timeout=1.0)
            try:
                request(waiting, "HEAD", f"{PREFIX}/good")
                waited = False
            except OSError:
                waited = True
            waiting.close()
            self.expect("connection-cap", waited,
                        "a new client past the cap is not answered within 1 s (it waits)")
            worst = timed_requests(existing, "good", 20)
            self.expect("connection-cap", worst < 1.0,
                        f"a connected client is served while 400 slow bodies fill a cap of "
                        f"300: slowest of 20 append+read pairs {worst * 1000:.0f} ms")
            t = time.time()
            late = srv.conn(timeout=3 * timeout_ms / 1000 + 10)
            status, _, _ = request(late, "HEAD", f"{PREFIX}/good")
            self.expect("connection-cap", status == 200,
                        f"the waiting client is served once slow bodies time out "
                        f"(after {time.time() - t:.1f} s)")
            got = statuses(socks, 3 * timeout_ms / 1000 + 10)
            self.expect("connection-cap", got.count(408) == len(got),
                        f"{got.count(408)} of {len(got)} slow requests answered 408")
        finally:
            srv.stop()

    def parallel_appends(self):
        cap = 128 * MB
        srv = Server(self.binary, ["--max-inflight-body-bytes", str(cap),
                                   "--max-body-bytes", str(64 * MB)])
        try:
            c = srv.conn()
            for i in range(16):
                create(c, f"big{i}")
            c.close()
            base = srv.rss_mb()
            body = b"b" * (60 * 1000 * 1000)
            results = [None] * 16
            busy = [0] * 16
            resets = [0] * 16

            def append(i):
                conn = srv.conn(timeout=120)
                for _ in range(200):
                    try:
                        status, headers, _ = request(
                            conn, "POST", f"{PREFIX}/big{i}", body=body,
                            headers={"Content-Type": "application/octet-stream"})
                    except OSError:
                        # A 503 answered before the body was sent closes the connection.
                        conn.close()
                        conn = srv.conn(timeout=120)
                        resets[i] += 1
                        time.sleep(0.5)
                        continue
                    if status == 503:
                        assert headers.get("retry-after"), "503 without Retry-After"
                        busy[i] += 1
                        time.sleep(float(headers["retry-after"]) / 2)
                        continue
                    results[i] = status
                    break
                conn.close()

            t = time.time()
            threads = [threading.Thread(target=append, args=(i,)) for i in range(16)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            elapsed = time.time() - t
            ok = sum(1 for r in results if r in (200, 204))
            peak = srv.peak_mb()
            # Each admitted body is held once as read and at most twice more by storage (log
            # record and data-file buffer) until it is durable.
            bound = base + 3 * cap / MB + 64
            self.numbers["16x60MB peak MB"] = round(peak)
            self.expect("parallel-appends", ok == 16,
                        f"{ok} of 16 appends of 60 MB acknowledged in {elapsed:.1f} s "
                        f"({sum(busy)} answers of 503 + Retry-After and {sum(resets)} "
                        f"connection errors on the way)")
            self.expect("parallel-appends", peak <= bound,
                        f"peak {peak:.0f} MB (baseline {base:.0f} MB) <= bound {bound:.0f} MB "
                        f"= baseline + 3 x in-flight cap {cap // MB} MB + 64 MB")
        finally:
            srv.stop()

    def json_array(self):
        srv = Server(self.binary, ["--max-body-bytes", str(64 * MB)])
        try:
            c = srv.conn(timeout=300)
            create(c, "j", "application/json")
            base = srv.rss_mb()
            n = 31 * 1000 * 1000
            body = b"[" + b"1," * (n - 1) + b"1]"
            t = time.time()
            status, _, text = request(c, "POST", f"{PREFIX}/j", body=body,
                                      headers={"Content-Type": "application/json"})
            elapsed = time.time() - t
            peak = srv.peak_mb()
            size = len(body) / MB
            self.numbers["62MB JSON peak MB"] = round(peak)
            self.expect("json-array", status in (200, 204),
                        f"a {size:.0f} MiB array of {n:,} items appended ({status}) "
                        f"in {elapsed:.1f} s")
            # Items of one digit are the worst case: stored as `1,\n`, the framed bytes are
            # 1.5x the body, and storage copies them once more before they are durable.
            bound = base + 3 * size + 16
            self.expect("json-array", peak <= bound,
                        f"peak {peak:.1f} MB (baseline {base:.1f} MB) <= {bound:.0f} MB "
                        f"= baseline + 3 x body + 16 MB allocator slack")
            status, headers, _ = request(c, "HEAD", f"{PREFIX}/j")
            self.expect("json-array", status == 200 and headers.get("stream-next-offset"),
                        "the stream is readable afterwards")
        finally:
            srv.stop()

    def unknown_subscriptions(self):
        srv = Server(self.binary)
        try:
            c = srv.conn()
            for i in range(200):  # warm up allocator pools and connection buffers
                request(c, "POST", f"{PREFIX}/__ds/subscriptions/warm-{i}/streams",
                        body=b'{"streams":["a"]}', headers={"Content-Type": "application/json"})
            before = srv.rss_mb()
            t = time.time()
            seen = {}
            for i in range(9000):
                # Long ids, as an attacker would send: each leaked id used to keep its text.
                sid = f"unknown-{i}-" + "x" * 16000
                if i % 3 == 0:
                    st, _, _ = request(c, "POST", f"{PREFIX}/__ds/subscriptions/{sid}/streams",
                                       body=b'{"streams":["a"]}',
                                       headers={"Content-Type": "application/json"})
                elif i % 3 == 1:
                    st, _, _ = request(c, "DELETE", f"{PREFIX}/__ds/subscriptions/{sid}/streams/a")
                else:
                    st, _, _ = request(c, "DELETE", f"{PREFIX}/__ds/subscriptions/{sid}")
                seen[st] = seen.get(st, 0) + 1
            after = srv.rss_mb()
            self.numbers["unknown ids RSS growth MB"] = round(after - before, 1)
            self.expect("unknown-subscriptions", set(seen) == {404},
                        f"9,000 requests to unknown ids answered {seen} in {time.time() - t:.1f} s")
            self.expect("unknown-subscriptions", after - before < 4,
                        f"RSS {before:.1f} MB -> {after:.1f} MB (growth < 4 MB)")
        finally:
            srv.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "durastream"))
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--legacy", action="store_true")
    ap.add_argument("--nofile", type=int, default=4096)
    args = ap.parse_args()
    global LEGACY
    LEGACY = args.legacy
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 <= hard or (hard == resource.RLIM_INFINITY and soft < 4096):
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    checks = Checks(args.bin, args.report, args.nofile)
    all_checks = [
        ("slow-bodies", checks.slow_bodies),
        ("connection-cap", checks.connection_cap),
        ("parallel-appends", checks.parallel_appends),
        ("json-array", checks.json_array),
        ("unknown-subscriptions", checks.unknown_subscriptions),
    ]
    for name, fn in all_checks:
        if not args.only or name in args.only:
            checks.run(name, fn)
    if checks.numbers:
        print("measurements: " + json.dumps(checks.numbers))
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
