#!/usr/bin/env bash
# Install check of the Kotlin/JVM jar from dist/: `mvn install` puts it (with its pom) into
# the local Maven repository, then a separate consumer project that only declares the
# dependency compiles and runs a producer and a reader against the bundled server, and the
# Kotlin conformance adapter runs on the installed jar (its native library loaded by JNA
# from the jar, no jna.library.path), all with cargo hidden from PATH.
# Usage: tests/install-check/kotlin.sh [DIST_DIR]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
dist="$(cd "${1:-$repo/dist}" && pwd)"
source "$repo/tests/install-check/common.sh"
version="$(workspace_version)"
bin="${DURASTREAM_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/durastream}"
adapter_classes="$repo/kotlin/target/test-classes"
hide_cargo

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mvn -q -B install:install-file -Dfile="$dist/durastream-kotlin-$version.jar" \
  -DpomFile="$dist/durastream-kotlin-$version.pom"
cp -r "$repo/tests/install-check/kotlin-consumer" "$work/consumer"
cd "$work/consumer"
mvn -q -B -Ddurastream.version="$version" compile exec:java
mvn -q -B -Ddurastream.version="$version" dependency:build-classpath \
  -Dmdep.outputFile="$work/classpath.txt"
grep -q "durastream-$version.jar" "$work/classpath.txt" ||
  { echo "the consumer's classpath lacks durastream-$version.jar" >&2; exit 1; }

# The adapter's classes were compiled by kotlin/scripts/package.sh against the same API.
[[ -d $adapter_classes/dev/durastream/conformance ]] ||
  { echo "no adapter classes in $adapter_classes: run scripts/release kotlin" >&2; exit 1; }
cat > "$work/adapter" <<ADAPTER
#!/usr/bin/env bash
exec java -Xshare:auto -XX:TieredStopAtLevel=1 \
  -cp "$adapter_classes:$(cat "$work/classpath.txt")" dev.durastream.conformance.AdapterKt
ADAPTER
chmod +x "$work/adapter"
python3 -c "import yaml" 2>/dev/null || python3 -m pip install --quiet pyyaml
export DURASTREAM_BIN="$bin"
"$repo/tests/conformance/run-client-cases" "$work/adapter" 2>&1 | tee "$work/conformance.log"
summary="$(tail -n 1 "$work/conformance.log")"
case "$summary" in
  *" 0 failed"*) echo "kotlin install check: conformance OK ($summary)" ;;
  *) echo "kotlin install check: conformance FAILED ($summary)" >&2; exit 1 ;;
esac
