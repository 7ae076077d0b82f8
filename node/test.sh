#!/usr/bin/env bash
# Node package: build the addon from source (npm install runs `napi build`), run the
# node --test suite, then the client-conformance cases with the Node adapter.
# Honours CARGO_TARGET_DIR (default: <repo>/target). Exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"

cd "$here"
npm install --no-audit --no-fund
npm test

# The conformance runner starts our server binary; build it into the active target dir.
if [ -z "${DURASTREAM_BIN:-}" ]; then
  if [ ! -x "$target/debug/durastream" ]; then
    (cd "$repo" && CARGO_TARGET_DIR="$target" cargo build -p durastream-server)
  fi
  export DURASTREAM_BIN="$target/debug/durastream"
fi
python3 -c "import yaml" 2>/dev/null || python3 -m pip install --quiet pyyaml
cd "$repo"
out="$(mktemp)"
tests/conformance/run-client-cases node node/conformance-adapter.mjs 2>&1 | tee "$out"
summary="$(tail -n 1 "$out")"
rm -f "$out"
case "$summary" in
  *" 0 failed"*) echo "node: conformance OK ($summary)" ;;
  *) echo "node: conformance FAILED ($summary)" >&2; exit 1 ;;
esac
