//! `uniffi-bindgen`, built from the workspace at the same uniffi version as `durastream-ffi`,
//! so the generated Kotlin and Swift always match the scaffolding in the library.
//!
//! ```text
//! cargo run -p durastream-uniffi-bindgen -- generate --library <libdurastream_ffi.so> \
//!     --language kotlin --out-dir <dir>
//! ```

fn main() {
    uniffi::uniffi_bindgen_main()
}
