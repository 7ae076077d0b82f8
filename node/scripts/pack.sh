#!/usr/bin/env bash
# Packs the npm tarballs into OUT_DIR from the release addon built by scripts/release:
#   durastream-client-VERSION.tgz                  @durastream/client (JavaScript, no binary)
#   durastream-client-linux-x64-gnu-VERSION.tgz    @durastream/client-linux-x64-gnu (the .node)
# Only this machine's platform package is built here; the release workflow builds the others.
# Usage: node/scripts/pack.sh OUT_DIR
set -euo pipefail
node_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo="$(dirname "$node_dir")"
out="$(mkdir -p "${1:?usage: pack.sh OUT_DIR}" && cd "$1" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n 1)"

cd "$node_dir"
platform="$(node -e 'const l = process.report.getReport().header.glibcVersionRuntime ? "gnu" : "musl"
  console.log(process.platform === "linux" ? `linux-${process.arch}-${l}` : `${process.platform}-${process.arch}`)')"
for f in package.json "npm/$platform/package.json"; do
  v="$(node -p "require('./$f').version")"
  [[ $v == "$version" ]] || { echo "$f has version $v, the workspace $version" >&2; exit 1; }
done

# The addon from the release build that scripts/release made (`cargo build --release -p
# durastream-node`, shared with the other libraries); native/index.d.ts is committed and
# kept fresh by node/test.sh. Debug info stays out of the package.
lib="${DURASTREAM_RELEASE_LIB_DIR:-$CARGO_TARGET_DIR/release}/libdurastream_node.so"
[[ -f $lib ]] || { echo "missing $lib: run scripts/release (or cargo build --release -p durastream-node)" >&2; exit 1; }
cp "$lib" "npm/$platform/durastream.$platform.node"
strip --strip-debug "npm/$platform/durastream.$platform.node"

# The published package.json names every platform package as an optional dependency (npm
# installs the one matching os/cpu/libc). The repository's package.json does not: those
# packages exist only once published, and `npm ci` in a checkout would fail on them.
stage="$CARGO_TARGET_DIR/npm-stage/client"
rm -rf "$stage"
mkdir -p "$stage/native"
cp -r lib README.md "$stage/"
cp native/index.cjs native/index.d.ts "$stage/native/"
node -e '
  const fs = require("node:fs")
  const [stage, version] = process.argv.slice(1)
  const p = require("./package.json")
  const names = fs.readdirSync("npm").sort()
  p.optionalDependencies = Object.fromEntries(names.map((n) => [`@durastream/client-${n}`, version]))
  delete p.devDependencies
  p.scripts = {}
  fs.writeFileSync(`${stage}/package.json`, JSON.stringify(p, null, 2) + "\n")' "$stage" "$version"
(cd "$stage" && npm pack --pack-destination "$out")
(cd "npm/$platform" && npm pack --pack-destination "$out")
