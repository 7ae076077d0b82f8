#!/usr/bin/env bash
# Cross-node live delivery latency: writer on node 1, SSE and long-poll readers on node 2,
# first with LISTEN/NOTIFY, then with polling only (--pg-no-notify --pg-poll-ms 20).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export DURASTREAM_BIN="${DURASTREAM_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/durastream}"
source "$root/tests/multinode/lib.sh"
mn_pg_start || exit 2
rc=0
echo "== LISTEN/NOTIFY"
mn_node_start 1 || exit 2
mn_node_start 2 || exit 2
python3 "$root/tests/multinode/live_latency.py" "http://127.0.0.1:${MN_NODE_PORT[1]}" "http://127.0.0.1:${MN_NODE_PORT[2]}" 200 || rc=1
mn_node_kill 1; mn_node_kill 2
echo "== polling only (--pg-no-notify --pg-poll-ms 20)"
mn_node_start 1 --pg-no-notify --pg-poll-ms 20 || exit 2
mn_node_start 2 --pg-no-notify --pg-poll-ms 20 || exit 2
python3 "$root/tests/multinode/live_latency.py" "http://127.0.0.1:${MN_NODE_PORT[1]}" "http://127.0.0.1:${MN_NODE_PORT[2]}" 100 || rc=1
exit $rc
