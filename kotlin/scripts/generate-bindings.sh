#!/usr/bin/env bash
# Builds the native library and the workspace's uniffi-bindgen, generates the Kotlin
# bindings from the library, and lays the library out twice:
#   NATIVE_DIR/libdurastream_ffi.so                  for tests (-Djna.library.path)
#   RESOURCE_DIR/<jna-prefix>/libdurastream_ffi.so    packed into the jar, where JNA looks
#                                                     on the classpath (linux-x86-64/...)
# Usage: generate-bindings.sh OUT_DIR NATIVE_DIR RESOURCE_DIR   (Maven passes target/ paths)
# Env: CARGO_TARGET_DIR (default <repo>/target); DURASTREAM_NATIVE_PROFILE=release packs the
#      release library that scripts/release built; default debug (built here).
set -euo pipefail
out=$1 native=$2 resources=${3:-}
repo="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
profile="${DURASTREAM_NATIVE_PROFILE:-debug}"
cd "$repo"
# Always the same debug invocation as swift/generate.sh, so both share one feature resolution
# (and one build of uniffi-bindgen). The release library comes from scripts/release's one
# release build: building it here alone would resolve features differently and compile
# every dependency again.
cargo build --quiet -p durastream-ffi -p durastream-uniffi-bindgen
lib_dir="$target/$profile"
# scripts/release builds for an explicit --target and says where.
[[ $profile == release && -n ${DURASTREAM_RELEASE_LIB_DIR:-} ]] && lib_dir="$DURASTREAM_RELEASE_LIB_DIR"
lib="" file=""
for name in libdurastream_ffi.so libdurastream_ffi.dylib durastream_ffi.dll; do
  if [[ -f "$lib_dir/$name" ]]; then lib="$lib_dir/$name" file=$name; break; fi
done
[[ -n $lib ]] || { echo "no durastream_ffi library in $lib_dir" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out" "$native"
"$target/debug/uniffi-bindgen" generate --library "$lib" --language kotlin --no-format \
  --out-dir "$out" >/dev/null
cp "$lib" "$native/"
if [[ -n $resources ]]; then
  # JNA's resource prefix (com.sun.jna.Platform.RESOURCE_PREFIX): os-arch, e.g. linux-x86-64,
  # darwin-aarch64, win32-x86-64.
  case "$(uname -s)" in
    Linux) os=linux ;; Darwin) os=darwin ;; MINGW*|MSYS*|CYGWIN*) os=win32 ;; *) os=unknown ;;
  esac
  case "$(uname -m)" in
    x86_64|amd64) arch=x86-64 ;; aarch64|arm64) arch=aarch64 ;; *) arch="$(uname -m)" ;;
  esac
  rm -rf "$resources"
  mkdir -p "$resources/$os-$arch"
  cp "$lib" "$resources/$os-$arch/$file"
  # The release profile keeps debug info (for backtraces); the jar does not need it.
  if [[ $profile == release ]] && command -v strip >/dev/null; then
    strip --strip-debug "$resources/$os-$arch/$file"
  fi
fi
