#!/usr/bin/env bash
# Tests of the C binding: builds the library (debug), checks that the committed header is
# what the pinned cbindgen generates, runs the Rust unit tests, compiles the C test with gcc
# (against the shared and the static library), and runs it directly and under valgrind
# (no leaks, no invalid accesses). Exits non-zero on any failure.
#
# Usage: bindings/c/test.sh           run everything
#        bindings/c/test.sh --regen   rewrite include/durastream.h, then exit
#
# Installs what is missing: cbindgen $CBINDGEN_VERSION (with cargo, into
# $DURASTREAM_TOOLS, default ~/.cache/durastream) and valgrind (with apt-get).
set -euo pipefail

CBINDGEN_VERSION=0.29.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
tools="${DURASTREAM_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/durastream}"
cbindgen="$tools/cbindgen-$CBINDGEN_VERSION/bin/cbindgen"
lib_dir="$CARGO_TARGET_DIR/debug"
out="$CARGO_TARGET_DIR/c-tests"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

step() { echo; echo "--- $*"; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# cbindgen, pinned: the header must not change with whatever version happens to be around.
if ! "$cbindgen" --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
  step "installing cbindgen $CBINDGEN_VERSION into $tools"
  # Without CARGO_TARGET_DIR, cargo install builds in a temporary directory it removes.
  env -u CARGO_TARGET_DIR cargo install cbindgen --version "$CBINDGEN_VERSION" --locked \
    --root "$tools/cbindgen-$CBINDGEN_VERSION"
fi

step "generating the header with cbindgen $CBINDGEN_VERSION"
(cd "$here" && "$cbindgen" --quiet --config cbindgen.toml --crate durastream-c \
  --output "$tmp/durastream.h" .)
if [[ ${1:-} == --regen ]]; then
  cp "$tmp/durastream.h" "$here/include/durastream.h"
  echo "wrote bindings/c/include/durastream.h"
  exit 0
fi
if ! diff -u "$here/include/durastream.h" "$tmp/durastream.h"; then
  echo "bindings/c/include/durastream.h is stale: run bindings/c/test.sh --regen" >&2
  exit 1
fi
echo "header is fresh"

if ! command -v valgrind >/dev/null; then
  step "installing valgrind"
  as_root apt-get update -qq
  as_root apt-get install -y -qq valgrind
fi

step "building the library (debug)"
cargo build --manifest-path "$root/Cargo.toml" -p durastream-c

step "Rust unit tests"
cargo test --manifest-path "$root/Cargo.toml" -p durastream-c

step "compiling tests/test_durastream.c with gcc"
mkdir -p "$out"
cflags=(-std=c11 -Wall -Wextra -Werror -g -O0 -pthread -DDURASTREAM_SERVER -I"$here/include")
gcc "${cflags[@]}" "$here/tests/test_durastream.c" \
  -L"$lib_dir" -ldurastream_c -Wl,-rpath,"$lib_dir" -o "$out/test_durastream"
gcc "${cflags[@]}" "$here/tests/test_durastream.c" \
  "$lib_dir/libdurastream_c.a" -lpthread -ldl -lm -o "$out/test_durastream_static"

step "C tests (shared library)"
"$out/test_durastream"

step "C tests (static library)"
"$out/test_durastream_static"

step "State Protocol fixtures (shared with every binding)"
python3 "$here/tests/state_agreement.py" "$out/test_durastream"

step "C tests under valgrind"
valgrind --quiet --leak-check=full --show-leak-kinds=definite,possible \
  --errors-for-leak-kinds=definite,possible --error-exitcode=1 \
  --suppressions="$here/tests/valgrind.supp" "$out/test_durastream"

echo
echo "bindings/c: all tests passed"
