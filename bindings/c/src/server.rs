//! The Durable Streams server, started in-process (for tests and embedding).

use std::ffi::{c_char, CString};

use durastream_server::{Server, ServerOptions};

use crate::error::{boundary, ds_status, guard, FfiError};
use crate::ffi::{c_string, init_out, into_handle, opt_str_arg, str_arg};
use crate::runtime::block_on;

/// A server running inside this process on a free loopback port. Stop (and free) it with
/// `ds_server_stop`. Thread-safe.
#[allow(non_camel_case_types)]
pub struct ds_server {
    server: Server,
    url: CString,
}

/// Starts a server on `127.0.0.1` with a free port: in memory when `data_dir` is `NULL`,
/// else storing into the directory `data_dir` (created if missing). Streams live at
/// `<url>/v1/stream/<name>`, where `<url>` is `ds_server_url`.
///
/// On success `*out` holds the server; on failure it is set to `NULL`, and the status is
/// `DS_IO_ERROR` when the storage could not be opened or the port bound.
///
/// # Safety
/// `data_dir` must be `NULL` or NUL-terminated; `out` valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn ds_server_start(
    data_dir: *const c_char,
    out: *mut *mut ds_server,
) -> ds_status {
    boundary(|| {
        // SAFETY: `out` is writable per this function's contract.
        unsafe { init_out(out, std::ptr::null_mut(), "out") }?;
        // SAFETY: `data_dir` is NULL or NUL-terminated per this function's contract.
        let data_dir = unsafe { opt_str_arg(data_dir, "data_dir") }?;
        let config = ServerOptions { data_dir: data_dir.map(Into::into), ..Default::default() }
            .into_config()
            .map_err(|e| FfiError::Io(std::io::Error::other(e)))?;
        let server = block_on(Server::start(config))??;
        let url = c_string(&server.url())?;
        // SAFETY: checked non-null and writable above.
        unsafe { out.write(into_handle(ds_server { server, url })) };
        Ok(())
    })
}

/// Like `ds_server_start`, with access control on: `auth_tokens` holds static tokens, one
/// `<token> read|write|admin <path>` per line (paths relative to `/v1/stream`; `/` for all),
/// the format of the server's `--auth-token-file`. Clients then send
/// `Authorization: Bearer <token>` (`ds_client_set_header`).
///
/// Fails with `DS_INVALID_ARGUMENT` when `auth_tokens` is malformed (a token shorter than 16
/// characters, an unknown permission).
///
/// # Safety
/// `data_dir` must be `NULL` or NUL-terminated; `auth_tokens` NUL-terminated; `out` valid
/// for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn ds_server_start_with_tokens(
    data_dir: *const c_char,
    auth_tokens: *const c_char,
    out: *mut *mut ds_server,
) -> ds_status {
    boundary(|| {
        // SAFETY: `out` is writable per this function's contract.
        unsafe { init_out(out, std::ptr::null_mut(), "out") }?;
        // SAFETY: both are NULL or NUL-terminated per this function's contract.
        let data_dir = unsafe { opt_str_arg(data_dir, "data_dir") }?;
        // SAFETY: as above.
        let tokens = unsafe { str_arg(auth_tokens, "auth_tokens") }?;
        let config = ServerOptions {
            data_dir: data_dir.map(Into::into),
            auth_tokens: Some(tokens.to_string()),
            ..Default::default()
        }
        .into_config()
        .map_err(|e| durastream::client::Error::invalid_argument("auth_tokens", e.to_string()))?;
        let server = block_on(Server::start(config))??;
        let url = c_string(&server.url())?;
        // SAFETY: checked non-null and writable above.
        unsafe { out.write(into_handle(ds_server { server, url })) };
        Ok(())
    })
}

/// The server's root URL, `http://127.0.0.1:<port>` (no trailing slash). The string
/// belongs to the server and stays valid until `ds_server_stop`. `NULL` if `server` is
/// `NULL`.
///
/// # Safety
/// `server` must be `NULL` or a live server.
#[no_mangle]
pub unsafe extern "C" fn ds_server_url(server: *const ds_server) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: `server` is NULL or live per this function's contract.
        unsafe { server.as_ref() }.map_or(std::ptr::null(), |s| s.url.as_ptr())
    })
}

/// Stops the server gracefully (ends live reads, waits for requests in flight, flushes
/// storage) and frees it, whatever the result. `NULL` is a no-op returning `DS_OK`.
///
/// # Safety
/// `server` must be `NULL` or a server from `ds_server_start`, not stopped before and not
/// used after.
#[no_mangle]
pub unsafe extern "C" fn ds_server_stop(server: *mut ds_server) -> ds_status {
    boundary(|| {
        if server.is_null() {
            return Ok(());
        }
        // SAFETY: the pointer came from `Box::into_raw` in `ds_server_start` and the caller
        // hands its ownership back exactly once.
        let server = unsafe { Box::from_raw(server) };
        block_on(server.server.shutdown())?.map_err(FfiError::Io)
    })
}
