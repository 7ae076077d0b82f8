#!/usr/bin/env bash
# Admin listings and gauges from the database: streams created on either node are listed,
# paged, by both nodes (--admin-api), subscriptions with their cursors, and /metrics counts
# the streams and producers of the database.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export DURASTREAM_BIN="${DURASTREAM_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/durastream}"
source "$root/tests/multinode/lib.sh"
mn_pg_start || exit 2
m1="$(mn_free_port)"
mn_node_start 1 --admin-api --metrics-bind "127.0.0.1:$m1" || exit 2
mn_node_start 2 --admin-api || exit 2
python3 - "http://127.0.0.1:${MN_NODE_PORT[1]}" "http://127.0.0.1:${MN_NODE_PORT[2]}" "http://127.0.0.1:$m1" <<'PY'
import json, sys, urllib.request

n1, n2, metrics = sys.argv[1:4]

def req(url, method="GET", body=None, headers=None):
    r = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(r) as resp:
        return resp.status, resp.read()

paths = [f"adm/s{i:02d}" for i in range(7)] + ["other/x"]
for i, p in enumerate(paths):
    node = n1 if i % 2 else n2
    req(f"{node}/v1/stream/{p}", "PUT", b"", {"content-type": "text/plain"})
req(f"{n1}/v1/stream/adm/s03", "POST", b"abc", {"content-type": "text/plain",
    "producer-id": "p1", "producer-epoch": "0", "producer-seq": "0"})
req(f"{n2}/v1/stream/adm/s05", "DELETE")
seen, after = [], ""
for page in range(10):
    node = n1 if page % 2 else n2
    _, body = req(f"{node}/v1/stream/__ds/streams?prefix=adm/&limit=2&after={after}")
    v = json.loads(body)
    seen += [s["path"] for s in v["streams"]]
    if not v["next_after"]:
        break
    after = v["next_after"]
want = [p for p in paths if p.startswith("adm/") and p != "adm/s05"]
assert seen == want, (seen, want)
_, body = req(f"{n1}/v1/stream/__ds/streams?prefix=adm/s03")
s03 = json.loads(body)["streams"][0]
assert s03["bytes"] == 3 and s03["producers"] == 1 and s03["content_type"] == "text/plain", s03
print(f"listing: {len(seen)} streams in {page + 1} pages of 2, alternating nodes: ok")
sub = {"type": "pull-wake", "pattern": "adm/*", "wake_stream": "wake"}
req(f"{n1}/v1/stream/wake", "PUT", b"[]", {"content-type": "application/json"})
req(f"{n1}/v1/stream/__ds/subscriptions/adm", "PUT", json.dumps(sub).encode(),
    {"content-type": "application/json"})
req(f"{n2}/v1/stream/adm/s03", "POST", b"de", {"content-type": "text/plain"})
_, body = req(f"{n2}/v1/stream/__ds/subscriptions")
subs = json.loads(body)["subscriptions"]
link = next(l for l in subs[0]["streams"] if l["path"] == "adm/s03")
assert subs[0]["id"] == "adm" and link["pending_bytes"] == 2, subs
print("subscription listing from the other node: ok")
_, body = req(f"{metrics}/metrics")
gauges = {l.split()[0]: float(l.split()[1]) for l in body.decode().splitlines()
          if l.startswith(("durastream_streams ", "durastream_producers "))}
# 8 created, 1 deleted, plus the wake stream; one producer.
assert gauges == {"durastream_streams": 8.0, "durastream_producers": 1.0}, gauges
print(f"gauges: {gauges}: ok")
PY
