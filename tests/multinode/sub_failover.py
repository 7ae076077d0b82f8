"""Subscription failover across nodes (tests/multinode/sub-failover.sh drives it).

A webhook subscription is created on node 1, so node 1 holds its lease. Events are appended
through node 2; a local receiver records every webhook (answering {"done": true}, which acks
the wake). The node holding the lease is killed with kill -9 (by the driver, when this
script prints KILL <owner>; the driver restarts it when this script prints RESTART, once the other node has taken the
lease); the other node must take the lease
and deliver the wakes of the events appended after. Then the new holder is killed while a
webhook is in flight (the receiver holds the request); the restarted node must take over and
deliver a new wake. Every wake is delivered exactly once, generations strictly increase.

Usage: sub_failover.py NODE1_URL NODE2_URL PSQL PG_URL  (reads the victim's pid on stdin)
"""

import http.client
import http.server
import json
import subprocess
import sys
import threading
import time
import urllib.parse

node1, node2, psql, pg_url = sys.argv[1:5]
deliveries = []  # (arrival time, wake_id, generation)
lock = threading.Lock()
slow = threading.Event()  # hold the next requests 1.5 s before answering


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        with lock:
            deliveries.append((time.time(), body["wake_id"], body["generation"]))
        if slow.is_set():
            time.sleep(1.5)
        out = b'{"done": true}'
        try:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except OSError:
            pass  # the sender was killed meanwhile

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=server.serve_forever, daemon=True).start()
hook_url = f"http://127.0.0.1:{server.server_address[1]}/hook"


def call(base, method, path, body=None, ctype="application/json"):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    c.request(method, "/v1/stream/" + path, body=data, headers={"content-type": ctype})
    r = c.getresponse()
    out = r.read()
    c.close()
    return r.status, out


def owner():
    q = "SELECT owner FROM subscriptions WHERE id = 'failover'"
    return subprocess.check_output([psql, "-qtA", pg_url, "-c", q], text=True).strip()


def acked_to_tail(base):
    st, body = call(base, "GET", "__ds/subscriptions/failover")
    if st != 200:
        return False
    links = json.loads(body)["streams"]
    return any(l["path"] == "fo/events" and l["acked_offset"] == next_offset[0] for l in links)


next_offset = [None]


def append(base, i):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request("POST", "/v1/stream/fo/events", body=json.dumps({"i": i}).encode(),
              headers={"content-type": "application/json"})
    r = c.getresponse()
    r.read()
    assert r.status in (200, 204), r.status
    next_offset[0] = r.getheader("stream-next-offset")
    c.close()


def wait(cond, what, limit=20.0):
    end = time.time() + limit
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)
    sys.exit(f"FAIL: timed out waiting for {what}")


def node_of(o):
    return node1 if o.startswith(urllib.parse.urlsplit(node1).netloc + "/") else node2


sub = {"type": "webhook", "pattern": "fo/*", "webhook": {"url": hook_url}, "lease_ttl_ms": 1000}
st, _ = call(node1, "PUT", "__ds/subscriptions/failover", sub)
assert st == 201, st
st, _ = call(node2, "PUT", "fo/events", b"[]")
assert st == 201, st
first = owner()
print(f"lease owner after create: {first}")
for i in range(5):
    append(node2, i)
wait(lambda: acked_to_tail(node2), "the first deliveries")
before = len(deliveries)
print(f"deliveries before the kill: {before}")
print(f"KILL {first}", flush=True)
sys.stdin.readline()  # the driver killed the owner
killed = time.time()
survivor = node2 if node_of(first) == node1 else node1
for i in range(5, 10):
    append(survivor, i)
wait(lambda: acked_to_tail(survivor), "deliveries by the surviving node")
took = [t for t, _, _ in deliveries[before:]]
second = owner()
print(f"lease owner after the kill: {second}")
print(f"first delivery after the kill: {took[0] - killed:.2f} s after it")
print("RESTART", flush=True)
sys.stdin.readline()  # the driver restarted the killed node

# Phase 2: kill the new holder while its webhook is in flight; the restarted node must take
# over.
third_node = node1 if node_of(second) == node2 else node2
slow.set()
mid = len(deliveries)
append(third_node, 10)
wait(lambda: len(deliveries) > mid, "a delivery to hold")
print(f"KILL {second}", flush=True)
sys.stdin.readline()
killed2 = time.time()
slow.clear()
wait(lambda: acked_to_tail(third_node), "delivery by the other node")
third = owner()
print(f"lease owner after the kill in flight: {third}")
print(f"first delivery after the kill in flight: "
      f"{deliveries[mid + 1][0] - killed2:.2f} s after it")
wakes = [w for _, w, _ in deliveries]
gens = [g for _, _, g in deliveries]
print(f"deliveries: {len(deliveries)} ({len(deliveries) - before} after the kill), "
      f"distinct wakes: {len(set(wakes))}, generations {gens}")
ok = True
if second == first or node_of(second) != survivor:
    print("FAIL: the surviving node did not take the lease"); ok = False
if len(set(wakes)) != len(wakes):
    print("FAIL: a wake was delivered twice"); ok = False
if gens != sorted(set(gens)):
    print("FAIL: generations were not strictly increasing"); ok = False
if not took:
    print("FAIL: nothing was delivered after the kill"); ok = False
if third in (first, second) or node_of(third) != third_node:
    print("FAIL: the other node did not take the lease"); ok = False
print("subscription failover: ok" if ok else "subscription failover: FAILED")
sys.exit(0 if ok else 1)
