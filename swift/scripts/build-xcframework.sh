#!/usr/bin/env bash
# Builds swift/DurastreamFFI.xcframework (the binary target of Package.swift) on macOS:
# static libraries of durastream-ffi for iOS devices, the iOS simulator (arm64 + x86_64) and
# macOS (arm64 + x86_64), each with the committed generated header and a module map.
# Copies it zipped, with its SwiftPM checksum, into OUT_DIR (default swift/build) for a
# `.binaryTarget(url:checksum:)` release.
#
# Apple builds keep the `server` feature: the committed Swift API (generated from a desktop
# build) includes TestServer, and uniffi checks at load time that every function it declares
# exists. The server's Unix-only code compiles for Apple platforms.
#
# Needs: macOS with Xcode (xcodebuild, lipo), rustup. Not run on Linux.
# Usage: swift/scripts/build-xcframework.sh [OUT_DIR]
set -euo pipefail
swift_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo="$(dirname "$swift_dir")"
out="$(mkdir -p "${1:-$swift_dir/build}" && cd "${1:-$swift_dir/build}" && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
[[ $(uname -s) == Darwin ]] || { echo "build-xcframework.sh needs macOS (xcodebuild)" >&2; exit 1; }

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "${targets[@]}"
for t in "${targets[@]}"; do
  cargo build --manifest-path "$repo/Cargo.toml" --release -p durastream-ffi --target "$t"
done
lib() { echo "$target_dir/$1/release/libdurastream_ffi.a"; }

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sim" "$work/macos" "$work/headers"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$work/sim/libdurastream_ffi.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$work/macos/libdurastream_ffi.a"
cp "$swift_dir/Sources/DurastreamFFI/include/DurastreamFFI.h" "$work/headers/"
cat > "$work/headers/module.modulemap" <<'MAP'
module DurastreamFFI {
    header "DurastreamFFI.h"
    export *
}
MAP

rm -rf "$swift_dir/DurastreamFFI.xcframework"
xcodebuild -create-xcframework \
  -library "$(lib aarch64-apple-ios)" -headers "$work/headers" \
  -library "$work/sim/libdurastream_ffi.a" -headers "$work/headers" \
  -library "$work/macos/libdurastream_ffi.a" -headers "$work/headers" \
  -output "$swift_dir/DurastreamFFI.xcframework"

version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n 1)"
zip_name="DurastreamFFI-$version.xcframework.zip"
(cd "$swift_dir" && rm -f "$out/$zip_name" && zip -qry "$out/$zip_name" DurastreamFFI.xcframework)
(cd "$swift_dir" && swift package compute-checksum "$out/$zip_name") > "$out/$zip_name.checksum"
echo "built $swift_dir/DurastreamFFI.xcframework and $out/$zip_name (checksum $(cat "$out/$zip_name.checksum"))"
