#!/usr/bin/env bash
# Prints the path of a linker wrapper that links x86_64 Linux programs and libraries through
# zig against glibc 2.28 (the manylinux_2_28 baseline), creating it and its tools on first
# use. Rust links against the build machine's glibc otherwise, and a library built on glibc
# 2.36 asks for symbols of 2.34 (pthread_create@GLIBC_2.34...), so it would not load on older
# distributions. zig and the `maturin zig cc` driver (which adapts rustc's linker arguments
# to zig) come from PyPI into a venv under the target directory, as for the wheel; zig is
# pinned below 0.14 (0.14's UBSan runtime breaks builds).
# Usage: linker="$(scripts/zig-linker.sh)"; CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=$linker
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
tools="$target_dir/python-build-venv"
if [[ ! -x $tools/bin/maturin ]] || ! "$tools/bin/python" -c 'import ziglang' 2>/dev/null; then
  "${PYTHON:-python3}" -m venv "$tools" >&2
  "$tools/bin/python" -m pip install -q "maturin>=1.9.4,<2" "ziglang<0.14" >&2
fi
wrapper="$target_dir/zig-linker/cc-x86_64-linux-gnu.2.28.sh"
mkdir -p "$(dirname "$wrapper")"
cat > "$wrapper" <<WRAPPER
#!/bin/sh
export CARGO_ZIGBUILD_ZIG_COMMAND="$tools/bin/python3"
export CARGO_ZIGBUILD_ZIG_COMMAND_ARGS='-m ziglang'
exec "$tools/bin/maturin" zig cc -- -g -fno-sanitize=all -target x86_64-linux-gnu.2.28 "\$@"
WRAPPER
chmod +x "$wrapper"
echo "$wrapper"
