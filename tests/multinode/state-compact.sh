#!/usr/bin/env bash
# State compaction on PostgreSQL through nginx over two nodes (--state-compaction
# --state-compaction-trim): a snapshot is published as one closed stream, both nodes name it
# in Stream-Snapshot, both serve it, the source's chunks before the snapshot are deleted and
# reads there get 410 on both nodes, and a second compaction replaces the first snapshot.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export DURASTREAM_BIN="${DURASTREAM_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/durastream}"
source "$root/tests/multinode/lib.sh"
flags=(--state-compaction --state-compaction-trim)
mn_pg_start || exit 2
mn_node_start 1 "${flags[@]}" || exit 2
mn_node_start 2 "${flags[@]}" || exit 2
mn_nginx_start 1 2 || exit 2
psql_q() { "$MN_PG_BIN/psql" -qtA "$MN_PG_URL" -c "$1"; }
python3 - "$MN_LB_URL" "http://127.0.0.1:${MN_NODE_PORT[1]}" "http://127.0.0.1:${MN_NODE_PORT[2]}" <<'PY' || exit 1
import json, sys, urllib.error, urllib.request

lb, n1, n2 = sys.argv[1:4]

def req(url, method="GET", body=None, headers=None):
    r = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(r) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

J = {"content-type": "application/json"}
def event(k, v, op="insert"):
    return {"type": "user", "key": k, "value": v, "headers": {"operation": op}}

st, _, _ = req(f"{lb}/v1/stream/room", "PUT", b"[]", J)
assert st == 201, st
for i in range(40):
    st, _, _ = req(f"{lb}/v1/stream/room", "POST", json.dumps(event(f"u{i % 10}", i)).encode(), J)
    assert st in (200, 204), st
st, h, body = req(f"{lb}/v1/stream/__ds/compact/room", "POST")
assert st == 201, (st, body)
first = json.loads(body)
print(f"compacted: offset {first['offset']}, {first['events']} events, {first['entities']} entities, trimmed {first['trimmed']}")
for node in (n1, n2):
    st, h, _ = req(f"{node}/v1/stream/room", "HEAD")
    assert h.get("stream-snapshot-offset") == first["offset"], (node, h)
    snap_path = h["stream-snapshot"]
    st, _, body = req(f"{node}{snap_path}")
    msgs = json.loads(body)
    assert st == 200 and len([m for m in msgs if "key" in m]) == 10, (st, msgs[:3])
    st, _, _ = req(f"{node}/v1/stream/room?offset=-1")
    assert st == 410, (node, st)
    st, _, body = req(f"{node}/v1/stream/room?offset={first['offset']}")
    assert st == 200 and json.loads(body) == [], (st, body)
print("both nodes: Stream-Snapshot names it, the snapshot reads back, 410 before it: ok")
req(f"{n2}/v1/stream/room", "POST", json.dumps(event("u1", "last", "update")).encode(), J)
st, _, body = req(f"{n2}/v1/stream/__ds/compact/room", "POST")
second = json.loads(body)
assert st == 201 and second["offset"] != first["offset"], (st, body)
for node in (n1, n2):
    _, h, _ = req(f"{node}/v1/stream/room", "HEAD")
    assert h.get("stream-snapshot-offset") == second["offset"], (node, h)
print(f"second compaction on the other node: offset {second['offset']}: ok")
PY
snaps="$(psql_q "SELECT count(*) FROM streams WHERE path LIKE 'snapshot:%' AND closed")"
left="$(psql_q "SELECT count(*) FROM chunks c JOIN streams s ON s.id = c.stream_id WHERE s.path = '/v1/stream/room' AND c.end_pos <= s.trimmed_before")"
echo "closed snapshot streams: $snaps (the first one deleted), chunks left before the trim point: $left"
[[ $snaps == 1 && $left == 0 ]] || { echo "state compaction: FAILED"; exit 1; }
echo "state compaction on PostgreSQL: ok"
