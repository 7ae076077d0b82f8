#!/usr/bin/env bash
# Builds the server with its fault points (as durastream-faults, like tests/faults/run.sh)
# and runs the state compaction crash test.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build -q -p durastream-server --features fault-points
cp --remove-destination "$target/debug/durastream" "$target/debug/durastream-faults"
cargo build -q -p durastream-server
exec python3 tests/compact/crash_test.py --bin "$target/debug/durastream-faults" "$@"
