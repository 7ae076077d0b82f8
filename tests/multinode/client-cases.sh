#!/usr/bin/env bash
# The client conformance cases through nginx over two nodes on one PostgreSQL.
#
# Usage: tests/multinode/client-cases.sh ADAPTER_COMMAND [ARGS...]
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export DURASTREAM_BIN="${DURASTREAM_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/durastream}"
source "$root/tests/multinode/lib.sh"
flags=(--prefix / --test-faults --long-poll-timeout-ms 500)
mn_pg_start || exit 2
mn_node_start 1 "${flags[@]}" || exit 2
mn_node_start 2 "${flags[@]}" || exit 2
mn_nginx_start 1 2 || exit 2
echo "== client cases through nginx ($MN_LB_URL) over two nodes on PostgreSQL"
"$root/tests/conformance/run-client-cases" --server-url "$MN_LB_URL" "$@"
