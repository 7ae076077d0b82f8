#!/usr/bin/env python3
"""Metrics end to end: runs a scripted workload against the real binary, scrapes
``--metrics-bind`` and checks that every counter moved by what the workload did, that
live-reader and connection gauges follow open readers, and that ``promtool check metrics``
accepts the output. Also checks that ``--log-format json`` writes one JSON object per line
with the request span's fields.

Usage: tests/ops/metrics_test.py [path/to/durastream]   (default: target/debug/durastream)
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Dict, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "durastream")

Labels = Tuple[Tuple[str, str], ...]
failures = []
passes = []


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    (passes if ok else failures).append(what)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse(text: str) -> Dict[Tuple[str, Labels], float]:
    """Prometheus text format → {(name, sorted labels): value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m:
            raise AssertionError(f"unparsable metrics line: {line!r}")
        labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or "")))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


class Server:
    def __init__(self, tmp: str) -> None:
        self.port, self.metrics_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}/v1/stream"
        self.log_path = os.path.join(tmp, "server.log")
        self.log = open(self.log_path, "wb")
        env = dict(os.environ, DURASTREAM_LOG="info,durastream_server=debug")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--data-dir", os.path.join(tmp, "data"),
             "--bind", f"127.0.0.1:{self.port}",
             "--metrics-bind", f"127.0.0.1:{self.metrics_port}",
             "--log-format", "json", "--admin-api", "--webhooks", "--allow-localhost-webhooks",
             "--wal-segment-bytes", "8192", "--long-poll-timeout-ms", "3000"],
            stderr=self.log, env=env)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                self.scrape_text()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def scrape_text(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            assert r.headers["content-type"].startswith("text/plain")
            return r.read().decode()

    def scrape(self) -> Dict[Tuple[str, Labels], float]:
        return parse(self.scrape_text())

    def request(self, method: str, path: str, body: bytes = b"",
                headers: Optional[dict] = None) -> Tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request(method, "/v1/stream/" + path, body=body or None, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, data

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.log.close()


def value(m, name: str, **labels: str) -> float:
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


def hist_count(m, name: str, **labels: str) -> float:
    return value(m, name + "_count", **labels)


def wait_for(pred, timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


class Hook(http.server.BaseHTTPRequestHandler):
    """A webhook receiver: 500 for the first request, then {"done": true}."""
    calls = 0

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length", "0")))
        Hook.calls += 1
        ok = Hook.calls > 1
        body = b'{"done":true}' if ok else b"try again"
        self.send_response(200 if ok else 500)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def main() -> int:
    if not os.path.exists(BIN):
        print(f"no binary at {BIN}: cargo build -p durastream-server first")
        return 1
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    # Scratch space in the cargo target dir (ignored by git), wherever it is.
    scratch = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    os.makedirs(scratch, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        s = Server(tmp)
        try:
            run(s, hook.server_address[1])
        finally:
            s.stop()
            hook.shutdown()
        check_json_logs(s.log_path)
    bounds()
    print(f"{len(passes)} passed, {len(failures)} failed")
    return 1 if failures else 0


def run(s: Server, hook_port: int) -> None:
    before = s.scrape()
    for name in ["durastream_appends_total", "durastream_append_bytes_total",
                 "durastream_streams", "durastream_producers",
                 "durastream_webhook_deliveries_total"]:
        check(value(before, name) == 0, f"{name} starts at 0")

    # Writes: 3 streams, 20 plain appends of 100 bytes, 5 producer appends of 50 bytes.
    ct = {"content-type": "text/plain"}
    for name in ["m/a", "m/b", "m/c"]:
        check(s.request("PUT", name, headers=ct)[0] == 201, f"create {name}")
    for i in range(20):
        s.request("POST", "m/a", b"x" * 100, ct)
    for seq in range(5):
        h = dict(ct, **{"producer-id": "p1", "producer-epoch": "0", "producer-seq": str(seq)})
        s.request("POST", "m/b", b"y" * 50, h)
    s.request("POST", "m/b", b"y" * 50, dict(ct, **{"producer-id": "p1", "producer-epoch": "0",
                                                    "producer-seq": "4"}))  # duplicate
    s.request("GET", "missing")  # 404
    status, body = s.request("GET", "m/a?offset=-1")
    check(status == 200 and len(body) == 2000, "catch-up read of 2000 bytes")

    m = s.scrape()
    check(value(m, "durastream_appends_total") == 25, "appends_total = 25 (duplicate not counted)")
    check(value(m, "durastream_append_bytes_total") == 20 * 100 + 5 * 50, "append_bytes_total")
    check(value(m, "durastream_read_bytes_total", mode="catch-up") == 2000,
          "read_bytes_total{catch-up} = 2000")
    check(value(m, "durastream_http_requests_total", method="PUT", route="stream",
                status="201") == 3, "requests_total{PUT,stream,201} = 3")
    check(value(m, "durastream_http_requests_total", method="POST", route="stream",
                status="204") == 21, "requests_total{POST,stream,204} = 21 (20 + the duplicate)")
    check(value(m, "durastream_http_requests_total", method="POST", route="stream",
                status="200") == 5, "requests_total{POST,stream,200} = 5 (producer appends)")
    check(value(m, "durastream_http_requests_total", method="GET", route="stream",
                status="404") == 1, "requests_total{GET,stream,404} = 1")
    check(hist_count(m, "durastream_http_request_duration_seconds", method="POST",
                     route="stream") == 26, "request duration histogram counts 26 POSTs")
    check(value(m, "durastream_streams") == 3, "streams = 3")
    check(value(m, "durastream_producers") == 1, "producers = 1")
    check(hist_count(m, "durastream_wal_fsync_duration_seconds") >= 1, "fsync histogram moved")
    records = value(m, "durastream_wal_group_commit_records_sum")
    check(records >= 28, f"group commits acknowledged >= 28 records ({records:.0f})")
    check(hist_count(m, "durastream_wal_group_commit_duration_seconds") >= 1,
          "group commit latency histogram moved")
    check(value(m, "durastream_wal_group_commit_bytes_sum") > 2250, "group commit bytes")
    check(value(m, "durastream_wal_size_bytes") > 0, "wal_size_bytes > 0")

    # Live readers: a long-poll waiting at the tail, an SSE stream open.
    lp = threading.Thread(target=lambda: s.request("GET", "m/c?offset=now&live=long-poll"))
    lp.start()
    check(wait_for(lambda: value(s.scrape(), "durastream_live_readers", mode="long-poll") == 1),
          "live_readers{long-poll} = 1 while waiting")
    sse = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    sse.request("GET", "/v1/stream/m/a?offset=-1&live=sse")
    resp = sse.getresponse()
    first = resp.read1(65536)
    check(b"event: data" in first, "SSE delivers data")
    m = s.scrape()
    check(value(m, "durastream_live_readers", mode="sse") == 1, "live_readers{sse} = 1 while open")
    check(value(m, "durastream_connections_open") >= 2, "connections_open counts open readers")
    s.request("POST", "m/c", b"wake", ct)
    lp.join(10)
    sse.close()
    check(wait_for(lambda: value(s.scrape(), "durastream_live_readers", mode="sse") == 0),
          "live_readers{sse} back to 0 after the client left")
    m = s.scrape()
    check(value(m, "durastream_live_readers", mode="long-poll") == 0,
          "live_readers{long-poll} back to 0")
    check(value(m, "durastream_read_bytes_total", mode="long-poll") == 4,
          "read_bytes_total{long-poll} = 4")
    check(value(m, "durastream_read_bytes_total", mode="sse") > 2000,
          "read_bytes_total{sse} counts the event stream")
    accepted = value(m, "durastream_connections_accepted_total")
    # One connection per request so far (metrics scrapes use the other listener).
    check(accepted == 34, f"connections_accepted_total = 34 ({accepted:.0f})")

    # Checkpoint: 16 KiB more crosses two 8 KiB log segments; the 1 s upkeep checkpoints.
    for _ in range(4):
        s.request("POST", "m/c", b"z" * 4096, ct)
    check(wait_for(lambda: value(s.scrape(), "durastream_checkpoints_total", result="ok") >= 1),
          "checkpoints_total{ok} >= 1")
    check(hist_count(s.scrape(), "durastream_checkpoint_duration_seconds") >= 1,
          "checkpoint duration histogram moved")

    # Webhooks: the first delivery fails (500), the retry ~1 s later succeeds.
    sub = {"type": "webhook", "pattern": "hooked/*",
           "webhook": {"url": f"http://127.0.0.1:{hook_port}/hook"}}
    status, _ = s.request("PUT", "__ds/subscriptions/metrics-test", json.dumps(sub).encode(),
                          {"content-type": "application/json"})
    check(status == 201, "webhook subscription created")
    s.request("PUT", "hooked/x", headers=ct)
    s.request("POST", "hooked/x", b"event", ct)
    check(wait_for(lambda: value(s.scrape(), "durastream_webhook_deliveries_total",
                                 outcome="done") >= 1, timeout=15),
          "webhook_deliveries_total{done} >= 1 after the retry")
    m = s.scrape()
    check(value(m, "durastream_webhook_deliveries_total", outcome="failed") >= 1,
          "webhook_deliveries_total{failed} >= 1")
    check(value(m, "durastream_webhook_delivery_failures_total") >= 1,
          "webhook_delivery_failures_total >= 1")
    check(value(m, "durastream_webhook_retries_total") >= 1, "webhook_retries_total >= 1")
    check(value(m, "durastream_http_requests_total", method="PUT", route="control",
                status="201") == 1, "requests_total{PUT,control,201} = 1")
    check(value(m, "durastream_connections_max") >= 256, "connections_max shows the cap in force")

    text = s.scrape_text()
    r = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                       capture_output=True)
    check(r.returncode == 0, "promtool check metrics accepts the output"
          + (f": {r.stdout}{r.stderr}" if r.returncode else ""))
    print("\n".join(line for line in text.splitlines()
                    if line.startswith(("durastream_appends", "durastream_read_bytes",
                                        "durastream_webhook", "durastream_live"))))


def bounds() -> None:
    """A server with --max-connections 2 and a 300 ms body timeout: the cap and the timeout
    show in the metrics."""
    port, metrics_port = free_port(), free_port()
    proc = subprocess.Popen(
        [BIN, "serve", "--memory", "--bind", f"127.0.0.1:{port}",
         "--metrics-bind", f"127.0.0.1:{metrics_port}", "--max-connections", "2",
         "--body-read-timeout-ms", "300"], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    scrape = lambda: parse(urllib.request.urlopen(url, timeout=5).read().decode())  # noqa: E731
    try:
        def up() -> bool:
            try:
                return bool(scrape())
            except OSError:
                return False
        check(wait_for(up, timeout=20), "the bounded server starts")
        request = b"GET /v1/stream/none HTTP/1.1\r\nHost: x\r\n\r\n"
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        check(wait_for(lambda: value(scrape(), "durastream_connections_open") == 2
                       and value(scrape(), "durastream_connection_cap_waits_total") >= 1),
              "at --max-connections 2: connections_open = 2 and connection_cap_waits_total moved")
        check(value(scrape(), "durastream_connections_max") == 2, "connections_max = 2")
        waiting = socket.create_connection(("127.0.0.1", port))
        waiting.sendall(request)
        ready, _, _ = select.select([waiting], [], [], 0.5)
        check(not ready, "a third connection waits while the cap is reached")
        held[0].close()
        ready, _, _ = select.select([waiting], [], [], 5)
        check(bool(ready) and waiting.recv(100).startswith(b"HTTP/1.1 404"),
              "it is served once a connection closes")
        waiting.close()
        held[1].close()
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"POST /v1/stream/none HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: 10\r\n\r\nab")
        ready, _, _ = select.select([slow], [], [], 5)
        answer = slow.recv(100) if ready else b""
        slow.close()
        check(answer.startswith(b"HTTP/1.1 408"), "a body slower than the timeout gets 408")
        check(wait_for(lambda: value(scrape(), "durastream_http_requests_total", method="POST",
                                     route="stream", status="408") == 1),
              "requests_total{POST,stream,408} = 1")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def check_json_logs(path: str) -> None:
    lines = [line for line in open(path, encoding="utf-8").read().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            check(False, f"log line is JSON: {line[:120]!r}")
            return
    check(len(parsed) > 10, f"JSON log has lines ({len(parsed)})")
    check(all({"timestamp", "level", "fields", "target"} <= set(p) for p in parsed),
          "every log line has timestamp, level, fields, target")
    answered = [p for p in parsed if p["fields"].get("message") == "answered"]
    producer = [p for p in answered if p.get("span", {}).get("producer") == "p1"]
    check(len(producer) >= 5 and producer[0]["span"]["path"] == "/v1/stream/m/b"
          and producer[0]["span"]["producer_seq"] == "0"
          and "next_offset" in producer[0]["span"] and producer[0]["span"]["status"] == 200,
          "request spans carry path, producer id and seq, status and next offset")
    reads = [p for p in answered if p.get("span", {}).get("offset") == "-1"]
    check(len(reads) >= 1, "request spans carry the read offset")


if __name__ == "__main__":
    sys.exit(main())
