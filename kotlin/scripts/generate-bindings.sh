#!/usr/bin/env bash
# Builds the native library (debug) and the workspace's uniffi-bindgen, generates the Kotlin
# bindings from the library, and copies the library where JNA looks for it.
# Usage: generate-bindings.sh OUT_DIR NATIVE_DIR   (Maven passes target/... paths)
# Honours CARGO_TARGET_DIR (default: <repo>/target).
set -euo pipefail
out=$1 native=$2
repo="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
cd "$repo"
cargo build --quiet -p durastream-ffi -p durastream-uniffi-bindgen
lib=""
for name in libdurastream_ffi.so libdurastream_ffi.dylib durastream_ffi.dll; do
  if [[ -f "$target/debug/$name" ]]; then lib="$target/debug/$name"; break; fi
done
[[ -n $lib ]] || { echo "no durastream_ffi library in $target/debug" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out" "$native"
"$target/debug/uniffi-bindgen" generate --library "$lib" --language kotlin --no-format \
  --out-dir "$out" >/dev/null
cp "$lib" "$native/"
