#!/usr/bin/env bash
# Packs the Kotlin/JVM jar with the release native library inside (JNA resource path
# linux-x86-64/libdurastream_ffi.so) and copies it, with its pom, to OUT_DIR:
#   durastream-kotlin-VERSION.jar, durastream-kotlin-VERSION.pom  (dev.durastream:durastream)
# Tests are compiled (the conformance adapter lives there) but not run here: the install
# check (tests/install-check/kotlin.sh) runs a consumer project and the adapter on the jar.
# Usage: kotlin/scripts/package.sh OUT_DIR
set -euo pipefail
kotlin="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo="$(dirname "$kotlin")"
out="$(mkdir -p "${1:?usage: package.sh OUT_DIR}" && cd "$1" && pwd)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n 1)"
cd "$kotlin"
pom_version="$(sed -n 's|^  <version>\(.*\)</version>|\1|p' pom.xml | head -n 1)"
[[ $pom_version == "$version" ]] || { echo "kotlin/pom.xml has $pom_version, the workspace $version" >&2; exit 1; }
DURASTREAM_NATIVE_PROFILE=release mvn -q -B package -DskipTests
jar="target/durastream-$version.jar"
listing="$(unzip -l "$jar")"
grep -q "linux-x86-64/libdurastream_ffi.so" <<<"$listing" ||
  { echo "$jar lacks linux-x86-64/libdurastream_ffi.so" >&2; exit 1; }
cp "$jar" "$out/durastream-kotlin-$version.jar"
cp pom.xml "$out/durastream-kotlin-$version.pom"
