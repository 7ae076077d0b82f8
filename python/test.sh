#!/usr/bin/env bash
# Tests the Python package the way a user gets it: a fresh venv, `pip install ./python`
# (maturin builds the release abi3 wheel), then stubtest and mypy against the installed
# package, the pytest suite, and the client-conformance runner with the Python adapter.
#
# Usage: python/test.sh [WHEEL]
#   WHEEL: test this built wheel (installed with --no-index: nothing is compiled) instead of
#   building from ./python; tests/install-check/python.sh passes the one in dist/.
# Env:   CARGO_TARGET_DIR (default <repo>/target); the venv lives in $CARGO_TARGET_DIR/python-venv
#        VENV: another venv directory (created if missing)
#        PYTHON (default python3): the interpreter that creates the venv
#        DURASTREAM_BIN: the server binary for the conformance runner (built if unset)
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
VENV="${VENV:-$CARGO_TARGET_DIR/python-venv}"
WHEEL="${1:-}"
PY="$VENV/bin/python"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

declare -a names=() verdicts=()
step() {
  local name=$1; shift
  echo; echo "=== python: $name"
  if "$@"; then verdicts+=(PASS); else verdicts+=(FAIL); fi
  names+=("$name")
}

setup() {
  if [[ ! -x "$PY" ]]; then "${PYTHON:-python3}" -m venv "$VENV" || return 1; fi
  "$PY" -m pip install -q --upgrade pip &&
    "$PY" -m pip install -q pytest pytest-timeout mypy pyyaml pydantic &&
    if [[ -n $WHEEL ]]; then
      # The built wheel, as a user gets it from an index: no build step, no Rust.
      "$PY" -m pip install --force-reinstall --no-index --no-deps "$WHEEL"
    else
      # From source (maturin is fetched as the PEP 517 build backend).
      "$PY" -m pip install --force-reinstall "$HERE"
    fi &&
    # Run from outside the source tree so that the installed package is the one imported.
    (cd "$WORK" && "$PY" -c 'import durastream, sys; print("installed:", durastream.__file__)
assert "site-packages" in durastream.__file__, "source tree shadows the installed package"')
}

server_bin() {
  if [[ -n "${DURASTREAM_BIN:-}" ]]; then return 0; fi
  export DURASTREAM_BIN="$CARGO_TARGET_DIR/debug/durastream"
  if [[ ! -x "$DURASTREAM_BIN" ]]; then
    (cd "$REPO" && cargo build -p durastream-server) || return 1
  fi
}

stubtest() { (cd "$WORK" && "$PY" -m mypy.stubtest durastream); }
typecheck() { (cd "$WORK" && "$PY" -m mypy --strict -p durastream); }
unit() {
  # The State Protocol tests hand events to @durable-streams/state (tests/state/npm).
  if [[ ! -d "$REPO/tests/state/npm/node_modules/@durable-streams/state" ]]; then
    (cd "$REPO/tests/state/npm" && npm ci --no-audit --no-fund --loglevel=error) || return 1
  fi
  (cd "$HERE/tests" && "$PY" -m pytest -q -p no:cacheprovider)
}
conformance() {
  (cd "$WORK" && "$PY" "$REPO/tests/conformance/run-client-cases" \
      "$PY" -m durastream.conformance_adapter)
}

step install setup
if [[ ${verdicts[0]} == PASS ]]; then
  step server-binary server_bin
  step stubtest stubtest
  step mypy typecheck
  step pytest unit
  step conformance conformance
fi

echo; echo "=== python: summary"
failed=0
for i in "${!names[@]}"; do
  echo "${verdicts[$i]}  ${names[$i]}"
  [[ ${verdicts[$i]} == PASS ]] || failed=$((failed + 1))
done
((failed == 0))
