#!/usr/bin/env bash
# Regenerates the committed Swift bindings from the Rust library, with the workspace's own
# uniffi-bindgen (same uniffi version as the library):
#   Sources/Durastream/Durastream.swift            (generated Swift API)
#   Sources/DurastreamFFI/include/DurastreamFFI.h  (generated C header of the FFI)
# Never edit those two files by hand; kotlin/test.sh fails when they are stale.
# Honours CARGO_TARGET_DIR (default: <repo>/target).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
cd "$repo"
cargo build --quiet -p durastream-ffi -p durastream-uniffi-bindgen
lib=""
for name in libdurastream_ffi.so libdurastream_ffi.dylib durastream_ffi.dll; do
  if [[ -f "$target/debug/$name" ]]; then lib="$target/debug/$name"; break; fi
done
[[ -n $lib ]] || { echo "no durastream_ffi library in $target/debug" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# --no-format: the output must not depend on whether swift-format is installed.
"$target/debug/uniffi-bindgen" generate --library "$lib" --language swift --no-format \
  --out-dir "$tmp" >/dev/null
cp "$tmp/Durastream.swift" "$here/Sources/Durastream/Durastream.swift"
cp "$tmp/DurastreamFFI.h" "$here/Sources/DurastreamFFI/include/DurastreamFFI.h"
