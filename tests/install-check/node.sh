#!/usr/bin/env bash
# Install check of the npm packages from dist/: a fresh folder installs the two tarballs
# (@durastream/client and this platform's @durastream/client-linux-x64-gnu) with cargo
# hidden from PATH (no compile step at install), then runs the package's node --test suite
# and the client-conformance cases with the Node adapter against that install.
# Usage: tests/install-check/node.sh [DIST_DIR]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
dist="$(cd "${1:-$repo/dist}" && pwd)"
source "$repo/tests/install-check/common.sh"
version="$(workspace_version)"
bin="${DURASTREAM_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/durastream}"
hide_cargo

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
printf '{"name":"install-check","version":"0.0.0","private":true,"type":"module"}\n' > package.json
npm install --no-audit --no-fund \
  "$dist/durastream-client-linux-x64-gnu-$version.tgz" "$dist/durastream-client-$version.tgz"
test -f node_modules/@durastream/client-linux-x64-gnu/durastream.linux-x64-gnu.node
test ! -e node_modules/@durastream/client/native/durastream.node
# The package tests and the adapter, importing "@durastream/client" from node_modules.
cp -r "$repo/node/test" "$repo/node/conformance-adapter.mjs" .
node -e 'console.log("loaded", Object.keys(require("@durastream/client")).length, "exports")'
# The State Protocol tests read the repo's fixtures and compare with @durable-streams/state.
if [[ ! -d $repo/tests/state/npm/node_modules/@durable-streams/state ]]; then
  (cd "$repo/tests/state/npm" && npm ci --no-audit --no-fund --loglevel=error)
fi
DURASTREAM_STATE_DIR="$repo/tests/state" node --test test/*.test.mjs

python3 -c "import yaml" 2>/dev/null || python3 -m pip install --quiet pyyaml
export DURASTREAM_BIN="$bin"
out="$work/conformance.log"
"$repo/tests/conformance/run-client-cases" node "$work/conformance-adapter.mjs" 2>&1 | tee "$out"
summary="$(tail -n 1 "$out")"
case "$summary" in
  *" 0 failed"*) echo "node install check: conformance OK ($summary)" ;;
  *) echo "node install check: conformance FAILED ($summary)" >&2; exit 1 ;;
esac
