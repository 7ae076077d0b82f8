#!/usr/bin/env bash
# Install check of the Python wheel from dist/: a fresh venv installs the manylinux abi3
# wheel with cargo hidden from PATH, then stubtest, mypy, the pytest suite and the
# conformance adapter run against that install (python/test.sh WHEEL). Also checks that
# the sdist is there and carries the Rust sources a source build needs.
# Usage: tests/install-check/python.sh [DIST_DIR]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
dist="$(cd "${1:-$repo/dist}" && pwd)"
source "$repo/tests/install-check/common.sh"
version="$(workspace_version)"
export DURASTREAM_BIN="${DURASTREAM_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/durastream}"
hide_cargo

wheel="$(ls "$dist"/durastream-"$version"-cp39-abi3-manylinux_2_28_x86_64*.whl | head -n 1)"
sdist="$dist/durastream-$version.tar.gz"
echo "wheel: $(basename "$wheel")"
listing="$(tar -tzf "$sdist")"
grep -q "/core/src/lib.rs$" <<<"$listing" || { echo "sdist lacks the core sources" >&2; exit 1; }
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
VENV="$work/venv" "$repo/python/test.sh" "$wheel"
