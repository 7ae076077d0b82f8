#!/usr/bin/env bash
# Builds the server with its fault points compiled in (as durastream-faults, beside the
# normal binary, which is left as it was) and runs the fault suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build -q -p durastream-server --features fault-points
cp --remove-destination "$target/debug/durastream" "$target/debug/durastream-faults"
cargo build -q -p durastream-server
exec python3 tests/faults/fault_test.py --bin "$target/debug/durastream-faults" "$@"
