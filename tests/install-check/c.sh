#!/usr/bin/env bash
# Install check of the C library from dist/: unpacks the release tarball into a fresh
# prefix, builds the C test program with pkg-config alone (shared, then static), and runs
# it, with cargo hidden from PATH. Usage: tests/install-check/c.sh [DIST_DIR]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
dist="$(cd "${1:-$repo/dist}" && pwd)"
source "$repo/tests/install-check/common.sh"
hide_cargo

tarball="$(ls "$dist"/durastream-c-*-linux-x86_64.tar.gz | head -n 1)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
prefix="$(ls -d "$work"/durastream-c-*)"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
echo "pkg-config: durastream $(pkg-config --modversion durastream)"
test "$(pkg-config --modversion durastream)" = "$(workspace_version)"

src="$repo/bindings/c/tests/test_durastream.c"
# shellcheck disable=SC2046 # pkg-config output is a list of flags
gcc -std=c11 -Wall -Wextra -Werror -O1 -pthread $(pkg-config --cflags durastream) "$src" \
  $(pkg-config --libs durastream) -Wl,-rpath,"$prefix/lib" -o "$work/test_shared"
gcc -std=c11 -Wall -Wextra -Werror -O1 -pthread $(pkg-config --cflags durastream) "$src" \
  "$(pkg-config --variable=libdir durastream)/libdurastream.a" -lpthread -ldl -lm \
  -o "$work/test_static"
echo "--- C tests, shared library from $(basename "$tarball")"
"$work/test_shared"
echo "--- C tests, static library"
"$work/test_static"
