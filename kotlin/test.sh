#!/usr/bin/env bash
# Tests of the uniffi bindings (bindings/uniffi), the Kotlin package (kotlin/) and the
# Swift package (swift/). Each step runs even if an earlier one failed; exits non-zero when
# any failed. Honours CARGO_TARGET_DIR (default: <repo>/target).
#
#   1. Rust unit tests of the binding crate (the error mapping).
#   2. mvn test: builds the native library (debug), generates the Kotlin bindings with the
#      workspace's uniffi-bindgen, compiles and runs the JUnit 5 tests.
#   3. The Kotlin conformance adapter under tests/conformance/run-client-cases.
#   4. Swift: regenerates the committed Swift bindings and fails if they changed
#      (git diff --exit-code); `swift test` and the Swift adapter only where `swift` exists.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
export CARGO_TERM_COLOR=never

declare -a names=() verdicts=()
step() {
  local name=$1; shift
  echo; echo "=== $name: $*"
  local start=$SECONDS
  if "$@"; then verdicts+=("PASS"); else verdicts+=("FAIL"); fi
  names+=("$name ($((SECONDS - start)) s)")
}

python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet pyyaml

server_bin() {
  # The conformance runner's server, in the active target directory.
  [[ -x $CARGO_TARGET_DIR/debug/durastream ]] || cargo build --quiet -p durastream-server
}

swift_fresh() {
  swift/generate.sh || return 1
  local files=(swift/Sources/Durastream/Durastream.swift swift/Sources/DurastreamFFI/include/DurastreamFFI.h)
  if ! git rev-parse --git-dir >/dev/null 2>&1; then
    echo "not a git checkout: cannot compare the generated Swift sources" >&2; return 1
  fi
  if [[ -n $(git ls-files --others --exclude-standard -- "${files[@]}") ]]; then
    echo "generated Swift sources are not committed yet: ${files[*]}" >&2
  fi
  git diff --exit-code --stat -- "${files[@]}" ||
    { echo "swift/ bindings are stale: run swift/generate.sh and commit the result" >&2; return 1; }
}

# StateTest hands events to @durable-streams/state (tests/state/npm).
if [[ ! -d tests/state/npm/node_modules/@durable-streams/state ]]; then
  (cd tests/state/npm && npm ci --no-audit --no-fund --loglevel=error)
fi
step ffi-unit cargo test --quiet -p durastream-ffi
step kotlin-mvn-test bash -c 'cd kotlin && mvn -q -B test'
step build-server server_bin
export DURASTREAM_BIN="${DURASTREAM_BIN:-$CARGO_TARGET_DIR/debug/durastream}"
step kotlin-conformance tests/conformance/run-client-cases kotlin/conformance-adapter
step swift-bindings-fresh swift_fresh
if command -v swift >/dev/null 2>&1; then
  # Local development mode of Package.swift: the FFI links the cargo debug library.
  export DURASTREAM_FFI=local
  lib="$CARGO_TARGET_DIR/debug"
  step swift-test swift test --package-path swift -Xlinker -L"$lib" -Xlinker -rpath -Xlinker "$lib"
  step swift-conformance tests/conformance/run-client-cases swift/conformance-adapter
else
  echo; echo "=== swift: no Swift toolchain on this machine; swift test and the Swift adapter not run"
fi

echo; echo "=== summary (kotlin/test.sh)"
passed=0; failed=0
for i in "${!names[@]}"; do
  echo "${verdicts[$i]}  ${names[$i]}"
  if [[ ${verdicts[$i]} == PASS ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed"
((failed == 0))
