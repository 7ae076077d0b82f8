#!/usr/bin/env bash
# The official server suite through nginx (round-robin) over two durastream nodes sharing
# one throw-away PostgreSQL cluster.
#
# Usage: tests/multinode/server-suite.sh [extra args for run-server-suite.sh]
# Environment: DURASTREAM_BIN (default target/debug/durastream), NODE_FLAGS (extra serve
# flags for both nodes, e.g. --pg-no-notify), SUBSCRIPTIONS (default 1).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export DURASTREAM_BIN="${DURASTREAM_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/durastream}"
source "$root/tests/multinode/lib.sh"
export SUBSCRIPTIONS="${SUBSCRIPTIONS:-1}"
flags=(--long-poll-timeout-ms 500 --webhooks --allow-localhost-webhooks)
# shellcheck disable=SC2206
flags+=(${NODE_FLAGS:-})
mn_pg_start || exit 2
mn_node_start 1 "${flags[@]}" || exit 2
mn_node_start 2 "${flags[@]}" || exit 2
mn_nginx_start 1 2 || exit 2
echo "== server suite through nginx ($MN_LB_URL) over two nodes on PostgreSQL ${NODE_FLAGS:-}"
"$root/../shared/conformance/run-server-suite.sh" "$MN_LB_URL" "$@"
rc=$?
for n in 1 2; do
  if ! kill -0 "${MN_NODE_PID[$n]}" 2>/dev/null; then
    echo "node $n exited during the suite:" >&2; tail -20 "$MN_DIR/node$n.log" >&2; rc=1
  fi
done
exit $rc
