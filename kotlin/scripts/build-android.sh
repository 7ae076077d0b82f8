#!/usr/bin/env bash
# Builds an Android library (AAR) of the Kotlin package into OUT_DIR:
#   durastream-android-VERSION.aar
#     AndroidManifest.xml            package dev.durastream
#     classes.jar                    the Kotlin API (generated from the Android library) and
#                                    the idiomatic layer, compiled by Maven
#     jni/arm64-v8a/libdurastream_ffi.so, jni/armeabi-v7a/..., jni/x86_64/...
# The libraries are the client alone (`--no-default-features`: no in-process server, so no
# TestServer in this API). Apps also depend on JNA's Android build
# (`net.java.dev.jna:jna:5.17.0@aar`) and kotlinx-coroutines/serialization.
#
# Needs: the Android NDK (ANDROID_NDK_HOME), `cargo install cargo-ndk`, the three rustup
# targets. Run by the release workflow's `android` job; not run on this project's machines.
# Usage: kotlin/scripts/build-android.sh OUT_DIR
set -euo pipefail
kotlin="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo="$(dirname "$kotlin")"
out="$(mkdir -p "${1:?usage: build-android.sh OUT_DIR}" && cd "$1" && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n 1)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

cd "$repo"
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -o "$work/aar/jni" \
  build --release -p durastream-ffi --no-default-features
cargo build --quiet -p durastream-uniffi-bindgen
"$target_dir/debug/uniffi-bindgen" generate --library "$work/aar/jni/arm64-v8a/libdurastream_ffi.so" \
  --language kotlin --no-format --out-dir "$work/generated" >/dev/null

# Classes only, built in a copy of the project: no host library in the jar, and the
# bindings are the ones generated from the Android library.
mkdir -p "$work/kotlin" "$work/no-resources"
cp -r "$kotlin/pom.xml" "$kotlin/src" "$work/kotlin/"
(cd "$work/kotlin" && mvn -q -B package -Dmaven.test.skip=true -Dexec.skip=true \
  -Dgenerated.dir="$work/generated" -Dnative.resources.dir="$work/no-resources")
cp "$work/kotlin/target/durastream-$version.jar" "$work/aar/classes.jar"
cat > "$work/aar/AndroidManifest.xml" <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="dev.durastream">
    <uses-permission android:name="android.permission.INTERNET" />
</manifest>
XML
: > "$work/aar/R.txt"
(cd "$work/aar" && zip -qr "$out/durastream-android-$version.aar" .)
echo "built $out/durastream-android-$version.aar"
