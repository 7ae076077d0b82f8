# Helpers of the install checks (sourced).

# Removes every PATH entry that holds cargo or rustc: the packages must install and run on
# a machine without Rust.
hide_cargo() {
  local out="" d
  IFS=: read -ra dirs <<<"$PATH"
  for d in "${dirs[@]}"; do
    [[ -x $d/cargo || -x $d/rustc ]] && continue
    out="${out:+$out:}$d"
  done
  export PATH="$out"
  unset CARGO RUSTC RUSTUP_TOOLCHAIN
  if command -v cargo >/dev/null 2>&1; then
    echo "cargo is still on PATH: $(command -v cargo)" >&2
    return 1
  fi
  echo "cargo hidden from PATH"
}

workspace_version() {
  sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n 1
}
