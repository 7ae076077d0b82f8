#!/usr/bin/env python3
"""Idempotent producers appending through a load balancer while nodes (and the database)
crash; run by crash.sh. Each producer sends records seq 0, 1, 2, ... and retries a record
until it is acknowledged (200/204), like a real idempotent producer. When STOP_FILE
exists, every producer finishes its current record and the stream is checked: every
acknowledged record present exactly once, in order per producer, and no 409.

Once MARK_FILE (STOP_FILE + ".restarted") exists, each producer must acknowledge more
records (it carries on after the database's restart).

Usage: crash_producers.py LB_URL STOP_FILE [PRODUCERS]
"""
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

PATH = "/v1/stream/crash-" + str(int(time.time() * 1000))


def one(base, method, path, body=None, headers=None):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Producer(threading.Thread):
    def __init__(self, base, name, stop_file):
        super().__init__(daemon=True)
        self.base, self.name, self.stop_file = base, name, stop_file
        self.acked = 0
        self.acked_at_mark = None
        self.retries = 0
        self.conflicts = []

    def run(self):
        seq = 0
        while not os.path.exists(self.stop_file):
            body = json.dumps({"p": self.name, "s": seq})
            headers = {"Content-Type": "application/json", "Producer-Id": self.name,
                       "Producer-Epoch": "0", "Producer-Seq": str(seq)}
            while True:
                try:
                    status, data = one(self.base, "POST", PATH, body, headers)
                except OSError:
                    status, data = None, b""
                if status in (200, 204):
                    break
                if status == 409:
                    self.conflicts.append((seq, data.decode(errors="replace")[:200]))
                    return
                self.retries += 1
                time.sleep(0.05)
            self.acked = seq + 1
            seq += 1
            if self.acked_at_mark is None and os.path.exists(self.stop_file + ".restarted"):
                self.acked_at_mark = self.acked


def main():
    base, stop_file = sys.argv[1].rstrip("/"), sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    status, _ = one(base, "PUT", PATH, headers={"Content-Type": "application/json"})
    assert status in (200, 201), status
    producers = [Producer(base, f"p{i}", stop_file) for i in range(count)]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    records, offset = [], "-1"
    while True:
        status, data = None, b""
        for _ in range(50):
            try:
                u = urllib.parse.urlsplit(base)
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
                c.request("GET", f"{PATH}?offset={offset}")
                r = c.getresponse()
                status, data = r.status, r.read()
                nxt, done = r.getheader("Stream-Next-Offset"), r.getheader("Stream-Up-To-Date")
                c.close()
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert status == 200, status
        records += json.loads(data)
        offset = nxt
        if done:
            break
    ok = True
    for p in producers:
        mine = [r["s"] for r in records if r["p"] == p.name]
        if p.acked_at_mark is None or p.acked <= p.acked_at_mark:
            print(f"{p.name}: acknowledged nothing after the database restarted")
            ok = False
        if p.conflicts:
            print(f"{p.name}: false 409 at seq {p.conflicts[0][0]}: {p.conflicts[0][1]}")
            ok = False
        # Every acknowledged record exactly once, in order (a record in flight at the stop
        # may be stored without its acknowledgement having arrived).
        expect = list(range(p.acked))
        if mine[:p.acked] != expect or len(mine) > p.acked + 1 or len(set(mine)) != len(mine):
            lost = sorted(set(expect) - set(mine))
            dups = len(mine) - len(set(mine))
            print(f"{p.name}: acked {p.acked}, stored {len(mine)}, lost {lost[:10]}, duplicated {dups}")
            ok = False
    total = sum(p.acked for p in producers)
    retries = sum(p.retries for p in producers)
    lost = sum(len(set(range(p.acked)) - {r["s"] for r in records if r["p"] == p.name}) for p in producers)
    dups = len(records) - len({(r["p"], r["s"]) for r in records})
    print(f"crash test: {count} producers, {total} records acknowledged, {retries} retries, "
          f"{lost} lost, {dups} duplicated, {sum(len(p.conflicts) for p in producers)} false 409")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
