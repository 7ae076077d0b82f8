#!/usr/bin/env bash
# Builds the release wheel (manylinux_2_28, abi3, x86_64) and the sdist into OUT_DIR.
#
# The wheel must load on glibc 2.28, but this machine's glibc is newer, and a plain link
# would pull in newer symbol versions (pthread_create@GLIBC_2.34...). maturin links through
# zig (`--zig`), which targets the manylinux glibc; zig comes from PyPI (`ziglang`), pinned
# below 0.14 (0.14 added a UBSan runtime that breaks proc-macro builds). maturin then checks
# the wheel's symbols against the manylinux_2_28 policy and refuses a wheel that breaks it.
#
# Usage: python/build-wheel.sh OUT_DIR
# Env:   CARGO_TARGET_DIR (default <repo>/target); the build tools live in a venv under it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
out="$(mkdir -p "${1:?usage: build-wheel.sh OUT_DIR}" && cd "$1" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
# The tools venv (maturin, ziglang) is the one scripts/zig-linker.sh sets up.
"$repo/scripts/zig-linker.sh" >/dev/null
export PATH="$CARGO_TARGET_DIR/python-build-venv/bin:$PATH"
cd "$here"
maturin build --release --zig --target x86_64-unknown-linux-gnu \
  --compatibility manylinux_2_28 --out "$out"
maturin sdist --out "$out"
