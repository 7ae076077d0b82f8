#!/usr/bin/env bash
# Runs the official server conformance suite against this project's server.
#
# Usage: tests/server-suite.sh file|memory [extra args for run-server-suite.sh]
# Starts target/debug/durastream (override with DURASTREAM_BIN) on a free loopback port with
# the chosen engine and a 500 ms long-poll timeout, runs ../shared/conformance/run-server-suite.sh
# against it, stops it, and exits with the suite's status.
# The subscription tests run too (SUBSCRIPTIONS=1 by default; SUBSCRIPTIONS=0 skips them): the
# server gets --webhooks --allow-localhost-webhooks so the suite's webhook receiver on
# 127.0.0.1 can be called.
set -euo pipefail
engine="${1:?usage: tests/server-suite.sh file|memory}"; shift
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${DURASTREAM_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/durastream}"
suite="$root/../shared/conformance/run-server-suite.sh"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
data="$(mktemp -d)"
args=(serve --bind "127.0.0.1:$port" --long-poll-timeout-ms 500)
export SUBSCRIPTIONS="${SUBSCRIPTIONS:-1}"
if [[ "$SUBSCRIPTIONS" == 1 ]]; then args+=(--webhooks --allow-localhost-webhooks); fi
case "$engine" in
  file) args+=(--data-dir "$data/data") ;;
  memory) args+=(--memory) ;;
  *) echo "engine must be file or memory" >&2; exit 2 ;;
esac
DURASTREAM_LOG=warn "$bin" "${args[@]}" 2> "$data/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.1
done
echo "== server suite against the $engine engine (port $port)"
set +e
"$suite" "http://127.0.0.1:$port" "$@"
rc=$?
set -e
if ! kill -0 $pid 2>/dev/null; then
  echo "server exited during the suite:" >&2; cat "$data/server.log" >&2; exit 1
fi
exit $rc
