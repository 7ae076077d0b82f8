#!/usr/bin/env bash
# Builds every fuzz target in fuzz/ once and runs each for a short, fixed time from the
# committed seeds; fails on any crash. Longer runs: see fuzz/README.md.
#
# Usage: tests/fuzz/run-short.sh [TARGET...]   (default: every target)
# Env:   FUZZ_SECONDS (default 15) per target.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-15}
out="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^durastream-fuzz$')
fi

# No sanitizer: the project's own code forbids `unsafe`, and an ASan build takes twice as
# long. Several codegen units: the build, not the short runs, dominates the time here.
cargo +nightly fuzz build --sanitizer none --codegen-units 16 --target-dir "$out/build"
bin="$out/build/x86_64-unknown-linux-gnu/release"

failed=0
for t in "${targets[@]}"; do
  # A fresh corpus each time: generated inputs never enter the repository.
  rm -rf "$out/short/$t" && mkdir -p "$out/short/$t"
  echo "--- $t: ${secs} s"
  if "$bin/$t" "$out/short/$t" "fuzz/seeds/$t" -max_total_time="$secs" \
    -artifact_prefix="$out/short/$t/crash-" >"$out/short/$t.log" 2>&1; then
    grep -E '^Done' "$out/short/$t.log" || true
  else
    failed=1
    echo "FAIL $t: the input is under $out/short/$t/crash-*"
    grep -E -A12 'panicked|ERROR: libFuzzer' "$out/short/$t.log" | head -30
  fi
done
exit "$failed"
