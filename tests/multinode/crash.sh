#!/usr/bin/env bash
# Multi-node crash test: idempotent producers append through nginx while node 1 or 2 is
# killed with kill -9 and restarted, repeatedly; then PostgreSQL itself is stopped with
# `pg_ctl stop -m immediate` and restarted. Every acknowledged record must be stored exactly
# once, in order, with no false 409, and the producers must carry on.
#
# Environment: CRASH_ROUNDS (default 6 node kills).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export DURASTREAM_BIN="${DURASTREAM_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/durastream}"
source "$root/tests/multinode/lib.sh"
mn_pg_start || exit 2
mn_node_start 1 || exit 2
mn_node_start 2 || exit 2
mn_nginx_start 1 2 || exit 2
stop="$MN_DIR/stop"
python3 "$root/tests/multinode/crash_producers.py" "$MN_LB_URL" "$stop" 4 &
producers=$!
MN_PIDS+=("$producers")
for round in $(seq 1 "${CRASH_ROUNDS:-6}"); do
  sleep 1.5
  n=$(( (round % 2) + 1 ))
  echo "round $round: kill -9 node $n"
  mn_node_kill "$n"
  sleep 0.3
  mn_node_start "$n" || exit 2
done
sleep 1
echo "pg_ctl stop -m immediate, then restart"
mn_pg_stop immediate
sleep 1
mn_pg_ctl_start || exit 2
touch "$stop.restarted"
sleep 2
touch "$stop"
wait "$producers"
