#!/usr/bin/env bash
# Subscription failover: a webhook subscription's lease holder is killed with kill -9 (and
# restarted once the other node has taken over), twice, the second time with a webhook in flight; each time the other node takes
# the lease (--subscription-lease-ms 2000) and delivers, each wake exactly once.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export DURASTREAM_BIN="${DURASTREAM_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/durastream}"
source "$root/tests/multinode/lib.sh"
flags=(--webhooks --allow-localhost-webhooks --subscription-lease-ms 2000)
mn_pg_start || exit 2
mn_node_start 1 "${flags[@]}" || exit 2
mn_node_start 2 "${flags[@]}" || exit 2
coproc FO { python3 -u "$root/tests/multinode/sub_failover.py" \
  "http://127.0.0.1:${MN_NODE_PORT[1]}" "http://127.0.0.1:${MN_NODE_PORT[2]}" \
  "$MN_PG_BIN/psql" "$MN_PG_URL" 2>&1; }
fo_pid=$FO_PID
# KILL <owner>: kill -9 the node holding the lease. RESTART: start the killed node again
# (the script asks once the other node has taken over, so the takeover is the survivor's).
victim=""
while IFS= read -r line <&"${FO[0]}"; do
  echo "$line"
  if [[ $line == KILL\ * ]]; then
    owner=${line#KILL }
    victim=""
    for n in 1 2; do [[ $owner == "127.0.0.1:${MN_NODE_PORT[$n]}/"* ]] && victim=$n; done
    [[ -n $victim ]] || { echo "no node owns the lease ($owner)"; kill "$fo_pid"; exit 1; }
    echo "kill -9 node $victim"
    mn_node_kill "$victim"
    echo >&"${FO[1]}"
  elif [[ $line == RESTART && -n $victim ]]; then
    echo "restart node $victim"
    mn_node_start "$victim" "${flags[@]}" || { kill "$fo_pid"; exit 1; }
    echo >&"${FO[1]}"
  fi
done
wait "$fo_pid"
