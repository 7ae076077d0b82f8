#!/usr/bin/env bash
# Chunk compaction: many small appends (one chunk each, sent one at a time) are merged into
# few rows in the background, and the stream reads back byte for byte the same, whole and
# in 1000-byte responses (`--max-read-bytes`) that start and end inside merged rows.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export DURASTREAM_BIN="${DURASTREAM_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/durastream}"
source "$root/tests/multinode/lib.sh"
mn_pg_start || exit 2
mn_node_start 1 --pg-compact-ms 300 || exit 2
mn_node_start 2 --pg-compact-ms 0 --max-read-bytes 1000 || exit 2
url="http://127.0.0.1:${MN_NODE_PORT[1]}/v1/stream/compact"
chunks() { "$MN_PG_BIN/psql" -qtA "$MN_PG_URL" -c "SELECT count(*) FROM chunks"; }
curl -sf -X PUT -H 'Content-Type: text/plain' "$url" || exit 1
python3 - "$url" <<'PY' || exit 1
import http.client, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
for i in range(300):
    c.request("POST", u.path, body=f"line {i}\n", headers={"Content-Type": "text/plain"})
    r = c.getresponse(); r.read()
    assert r.status == 204, r.status
PY
before="$(curl -sf "$url?offset=-1")"
for _ in $(seq 1 50); do
  n="$(chunks)"; [[ $n -le 2 ]] && break; sleep 0.2
done
after="$(curl -sf "$url?offset=-1")"
expected="$(python3 -c 'print("".join(f"line {i}\n" for i in range(300)), end="")')"
echo "chunks after compaction: $n (300 appends)"
[[ $n -le 2 ]] || { echo "chunks were not compacted"; exit 1; }
[[ "$before" == "$expected" && "$after" == "$expected" ]] || { echo "stream bytes changed"; exit 1; }
python3 - "http://127.0.0.1:${MN_NODE_PORT[2]}/v1/stream/compact" <<'PY' || exit 1
import http.client, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
offset, parts = "-1", []
while True:
    c.request("GET", f"{u.path}?offset={offset}")
    r = c.getresponse(); body = r.read()
    assert r.status == 200, r.status
    assert len(body) <= 1000, len(body)
    parts.append(body)
    offset = r.getheader("stream-next-offset")
    if r.getheader("stream-up-to-date") == "true":
        break
got = b"".join(parts).decode()
assert got == "".join(f"line {i}\n" for i in range(300)), "bytes read in pieces differ"
print(f"read back in {len(parts)} responses of at most 1000 bytes: ok")
PY
echo "compaction: ok"
