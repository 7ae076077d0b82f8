#!/usr/bin/env bash
# Cross-language agreement of the State Protocol (see README.md beside this file):
# 1. the committed fixtures' expected results are what @durable-streams/state computes now;
# 2. durastream core materializes every fixture to those results (cargo test state_agreement);
# 3. events built by core's builders are accepted and materialized alike by the npm package.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
mkdir -p "$target/state-agreement"
out="$target/state-agreement/core-events.json"
rm -f "$out"

if [[ ! -d npm/node_modules/@durable-streams/state ]]; then
  (cd npm && npm ci --no-audit --no-fund --loglevel=error)
fi
(cd npm && node generate.mjs --check)
(cd "$root" && DURASTREAM_STATE_CORE_EVENTS="$out" \
  cargo test -p durastream --features state --test state_agreement)
(cd npm && node check-core-events.mjs "$out")
