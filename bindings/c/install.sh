#!/usr/bin/env bash
# Lays out the C library under a prefix, the way a distribution package or `make install`
# would:
#   PREFIX/include/durastream.h
#   PREFIX/lib/libdurastream.so, PREFIX/lib/libdurastream.a
#   PREFIX/lib/pkgconfig/durastream.pc      (pkg-config --cflags --libs durastream)
#
# Usage: bindings/c/install.sh PREFIX [LIB_DIR]
#   LIB_DIR: where cargo left libdurastream_c.{so,a} (default $CARGO_TARGET_DIR/release).
#   Builds nothing: run `cargo build --release -p durastream-c` first (scripts/release does).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
prefix="${1:?usage: bindings/c/install.sh PREFIX [LIB_DIR]}"
lib_dir="${2:-${CARGO_TARGET_DIR:-$root/target}/release}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)"

for f in libdurastream_c.so libdurastream_c.a; do
  [[ -f $lib_dir/$f ]] || { echo "missing $lib_dir/$f: build durastream-c first" >&2; exit 1; }
done
mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
prefix="$(cd "$prefix" && pwd)"
install -m 644 "$here/include/durastream.h" "$prefix/include/durastream.h"
# The crate's file names carry a `_c` suffix (the Rust crate `durastream` is the core);
# C users link `-ldurastream`. Without a SONAME, the linker records this file name.
install -m 755 "$lib_dir/libdurastream_c.so" "$prefix/lib/libdurastream.so"
install -m 644 "$lib_dir/libdurastream_c.a" "$prefix/lib/libdurastream.a"
# The release profile keeps debug info for backtraces; installed libraries do not need it.
strip --strip-debug "$prefix/lib/libdurastream.so" "$prefix/lib/libdurastream.a"
sed -e "s|@VERSION@|$version|" "$here/pkgconfig/durastream.pc.in" \
  > "$prefix/lib/pkgconfig/durastream.pc"
echo "installed durastream $version (C) under $prefix"
