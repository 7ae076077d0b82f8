//! C API of Durable Streams: the core client (streams, readers, idempotent producer) and
//! the in-process server behind a small, stable C interface.
//!
//! - Handles are opaque pointers (`ds_client`, `ds_stream`, `ds_reader`, `ds_producer`,
//!   `ds_server`, `ds_state`, `ds_state_follower`) created by a `*_new`/`*_open`/`*_start` function and released by the
//!   matching `*_free`/`*_stop`. Passing `NULL` to a `*_free` function is a no-op.
//! - Every fallible function returns a `ds_status` (`DS_OK` is 0; the other codes mirror the
//!   core `ErrorKind` and never change value). On failure the thread-local last error holds
//!   the code, a message and the HTTP status: see `ds_last_error_code`,
//!   `ds_last_error_message`, `ds_last_error_http_status`. A successful call clears it.
//! - Strings handed to the caller (`char *` out-parameters) are freed with
//!   `ds_string_free`. Borrowed strings (`const char *` results) live as documented.
//! - Every exported function runs behind a panic boundary: a Rust panic becomes `DS_PANIC`,
//!   never an unwind into C.
//! - `ds_client`, `ds_stream`, `ds_producer` and `ds_server` may be used from several
//!   threads at once; a `ds_reader` from one thread at a time.
//!
//! The header `include/durastream.h` is generated from this crate by cbindgen
//! (`bindings/c/test.sh` checks it is fresh).

mod client;
mod error;
mod ffi;
mod producer;
mod reader;
mod runtime;
#[cfg(feature = "server")]
mod server;
mod state;

pub use client::{ds_client, ds_stream, ds_stream_info};
pub use error::ds_status;
pub use producer::ds_producer;
pub use reader::{ds_chunk, ds_live_mode, ds_read_callback, ds_reader};
#[cfg(feature = "server")]
pub use server::ds_server;
pub use state::{ds_entity_callback, ds_state, ds_state_follower, ds_state_update};

use std::ffi::c_char;

/// The library version (`"0.1.0"`), a static string.
#[no_mangle]
pub extern "C" fn ds_version() -> *const c_char {
    error::guard(std::ptr::null(), || {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast::<c_char>()
    })
}

/// Frees a string this library returned through a `char **` out-parameter. `NULL` is a
/// no-op.
///
/// # Safety
/// `s` must be `NULL` or a string returned by this library and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ds_string_free(s: *mut c_char) {
    error::guard((), || {
        if !s.is_null() {
            // SAFETY: the caller passes a pointer from `CString::into_raw` (every `char **`
            // out-parameter of this library), not freed before.
            drop(unsafe { std::ffi::CString::from_raw(s) });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: Send + Sync>() {}

    /// The header documents these handles as usable from several threads at once.
    #[test]
    fn documented_thread_safety_holds() {
        shareable::<ds_client>();
        shareable::<ds_stream>();
        shareable::<ds_producer>();
        #[cfg(feature = "server")]
        shareable::<ds_server>();
    }

    /// A reader may move to another thread between calls.
    #[test]
    fn reader_can_move_between_threads() {
        fn movable<T: Send>() {}
        movable::<ds_reader>();
    }

    #[test]
    fn version_matches_the_crate() {
        // SAFETY: `ds_version` returns a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(ds_version()) };
        assert_eq!(v.to_str().expect("ASCII"), env!("CARGO_PKG_VERSION"));
    }
}
