#!/usr/bin/env python3
"""Cross-node live delivery: a writer appends on node A; an SSE reader and a long-poll
reader on node B time each message from its append to its arrival. Prints p50/p99.

Usage: live_latency.py WRITER_URL READER_URL [COUNT]   (URLs are server roots)
Exits non-zero when a reader misses or duplicates a message.
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse

PREFIX = "/v1/stream"


def conn(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def request(url, method, path, body=None, headers=None):
    c = conn(url)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r, data


def sse_reader(url, path, count, got, ready):
    c = conn(url)
    c.request("GET", f"{path}?offset=now&live=sse")
    r = c.getresponse()
    assert r.status == 200, r.status
    ready.set()
    event, data = None, []
    while len(got) < count:
        line = r.fp.readline()
        if not line:
            break
        line = line.decode().rstrip("\r\n")
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:])
        elif line == "":
            if event == "data" and data:
                now = time.time()
                for m in json.loads("\n".join(data)):
                    got.append((m["i"], now - m["t"]))
            event, data = None, []
    c.close()


def long_poll_reader(url, path, count, got, ready):
    c = conn(url)
    status, r, _ = request(url, "GET", f"{path}?offset=now")
    offset = r.getheader("Stream-Next-Offset")
    ready.set()
    while len(got) < count:
        c.request("GET", f"{path}?offset={offset}&live=long-poll")
        r = c.getresponse()
        data = r.read()
        now = time.time()
        if r.status == 200:
            for m in json.loads(data):
                got.append((m["i"], now - m["t"]))
        offset = r.getheader("Stream-Next-Offset") or offset
    c.close()


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p / 100))] * 1000


def main():
    writer, reader = sys.argv[1].rstrip("/"), sys.argv[2].rstrip("/")
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    path = f"{PREFIX}/latency-{int(time.time() * 1000)}"
    status, _, _ = request(writer, "PUT", path, headers={"Content-Type": "application/json"})
    assert status == 201, status
    results = {}
    threads = []
    for name, fn in (("sse", sse_reader), ("long-poll", long_poll_reader)):
        got, ready = [], threading.Event()
        t = threading.Thread(target=fn, args=(reader, path, count, got, ready), daemon=True)
        t.start()
        ready.wait(10)
        results[name] = got
        threads.append(t)
    time.sleep(0.3)
    w = conn(writer)
    for i in range(count):
        body = json.dumps({"i": i, "t": time.time()})
        w.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        r = w.getresponse()
        r.read()
        assert r.status in (200, 204), r.status
        time.sleep(0.01)
    for t in threads:
        t.join(30)
    ok = True
    for name, got in results.items():
        ids = [i for i, _ in got]
        if ids != list(range(count)):
            print(f"{name}: expected messages 0..{count - 1} once each in order, got {len(ids)}")
            ok = False
            continue
        lat = [d for _, d in got]
        print(f"{name} cross-node delivery over {count} appends: "
              f"p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms, max {max(lat) * 1000:.1f} ms")
    request(writer, "DELETE", path)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
