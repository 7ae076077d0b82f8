//! Clients and stream handles: create, append, head, close, delete.

use std::ffi::c_char;

use durastream::client::{Client, CreateOptions, DurableStream, RetryOptions};

use crate::error::{boundary, ds_status, guard};
use crate::ffi::{
    bytes_arg, c_string, free_handle, handle, init_out, into_handle, opt_str_arg, str_arg,
    write_opt, write_opt_string,
};
use crate::runtime::block_on;

/// A client: connection pool, retry policy and time limits shared by its streams. Free
/// with `ds_client_free`. Thread-safe.
#[allow(non_camel_case_types)]
pub struct ds_client {
    pub(crate) client: Client,
}

/// A handle on the stream at one URL. Free with `ds_stream_free`. Thread-safe. It keeps
/// what it needs of its client, so the client may be freed first.
#[allow(non_camel_case_types)]
pub struct ds_stream {
    pub(crate) stream: DurableStream,
}

/// Stream metadata from `ds_stream_head`. The strings belong to the caller: release them
/// all with `ds_stream_info_clear`.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct ds_stream_info {
    /// The stream's content type, or `NULL` when the server sent none.
    pub content_type: *mut c_char,
    /// The tail offset: where the next append will land. Never `NULL` after success.
    pub next_offset: *mut c_char,
    /// The sliding time-to-live in seconds, or -1 when the stream has none.
    pub ttl_seconds: i64,
    /// The absolute expiry (RFC 3339), or `NULL` when the stream has none.
    pub expires_at: *mut c_char,
    /// The stream is closed: no more appends.
    pub closed: bool,
}

impl ds_stream_info {
    fn empty() -> ds_stream_info {
        ds_stream_info {
            content_type: std::ptr::null_mut(),
            next_offset: std::ptr::null_mut(),
            ttl_seconds: -1,
            expires_at: std::ptr::null_mut(),
            closed: false,
        }
    }
}

/// Creates a client with default settings.
///
/// On success `*out` holds the new client; on failure it is set to `NULL`.
///
/// # Safety
/// `out` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn ds_client_new(out: *mut *mut ds_client) -> ds_status {
    boundary(|| {
        // SAFETY: `out` is writable per this function's contract.
        unsafe { init_out(out, std::ptr::null_mut(), "out") }?;
        let client = into_handle(ds_client { client: Client::new() });
        // SAFETY: checked non-null and writable above.
        unsafe { out.write(client) };
        Ok(())
    })
}

/// Creates a client that retries transient failures (network errors, timeouts, 408, 429,
/// retryable 5xx) at most `max_retries` times after the first attempt, with exponential
/// backoff from 100 ms up to 5 s. 0 disables retries. `ds_client_new` uses 8.
///
/// On success `*out` holds the new client; on failure it is set to `NULL`.
///
/// # Safety
/// `out` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn ds_client_new_with_retries(
    max_retries: u32,
    out: *mut *mut ds_client,
) -> ds_status {
    boundary(|| {
        // SAFETY: `out` is writable per this function's contract.
        unsafe { init_out(out, std::ptr::null_mut(), "out") }?;
        let retry = RetryOptions { max_retries, ..RetryOptions::default() };
        let client = Client::builder().retry(retry).build()?;
        // SAFETY: checked non-null and writable above.
        unsafe { out.write(into_handle(ds_client { client })) };
        Ok(())
    })
}

/// Frees a client. `NULL` is a no-op. Streams made from it stay usable.
///
/// # Safety
/// `client` must be `NULL` or a client from `ds_client_new`, not freed before and not used
/// after.
#[no_mangle]
pub unsafe extern "C" fn ds_client_free(client: *mut ds_client) {
    // SAFETY: forwarded contract of this function.
    guard((), || unsafe { free_handle(client) })
}

/// Sets a header sent with every later request of `client` and of the streams, readers and
/// producers made from it, e.g. `Authorization` = `Bearer <token>` for a server with access
/// control. Setting a name again replaces its value.
///
/// Fails with `DS_INVALID_ARGUMENT` for a name or value that is not a valid HTTP header.
///
/// # Safety
/// `client` must be a live client; `name` and `value` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn ds_client_set_header(
    client: *const ds_client,
    name: *const c_char,
    value: *const c_char,
) -> ds_status {
    boundary(|| {
        // SAFETY: `client` is NULL or live per this function's contract.
        let client = unsafe { handle(client, "client") }?;
        // SAFETY: both are NULL or NUL-terminated per this function's contract.
        let (name, value) = unsafe { (str_arg(name, "name")?, str_arg(value, "value")?) };
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        let name_ok = !name.is_empty() && name.bytes().all(token);
        let value_ok = value.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f));
        if !(name_ok && value_ok) {
            return Err(durastream::client::Error::invalid_argument(
                "name",
                format!("{name:?}: {value:?} is not a valid HTTP header"),
            )
            .into());
        }
        client.client.set_header(name, value);
        Ok(())
    })
}

/// Makes a handle on the stream at `url` (a full `http://` or `https://` URL). Sends
/// nothing.
///
/// On success `*out` holds the new stream handle; on failure it is set to `NULL`.
/// Fails with `DS_INVALID_ARGUMENT` for a malformed URL.
///
/// # Safety
/// `client` must be a live client; `url` a NUL-terminated string; `out` valid for writing a
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn ds_stream_new(
    client: *const ds_client,
    url: *const c_char,
    out: *mut *mut ds_stream,
) -> ds_status {
    boundary(|| {
        // SAFETY: `out` is writable per this function's contract.
        unsafe { init_out(out, std::ptr::null_mut(), "out") }?;
        // SAFETY: `client` is NULL or live per this function's contract.
        let client = unsafe { handle(client, "client") }?;
        // SAFETY: `url` is NULL or NUL-terminated per this function's contract.
        let url = unsafe { str_arg(url, "url") }?;
        let stream = client.client.stream(url)?;
        // SAFETY: checked non-null and writable above.
        unsafe { out.write(into_handle(ds_stream { stream })) };
        Ok(())
    })
}

/// Frees a stream handle. `NULL` is a no-op. Readers and producers made from it stay
/// usable.
///
/// # Safety
/// `stream` must be `NULL` or a handle from `ds_stream_new`, not freed before and not used
/// after.
#[no_mangle]
pub unsafe extern "C" fn ds_stream_free(stream: *mut ds_stream) {
    // SAFETY: forwarded contract of this function.
    guard((), || unsafe { free_handle(stream) })
}

/// Creates the stream (`PUT`), or confirms that an identical one exists. Idempotent.
///
/// `content_type` may be `NULL` (the server's default, usually
/// `application/octet-stream`). If `out_created` is not `NULL` it receives `true` when the
/// stream was created and `false` when it already existed. Fails with `DS_CONFLICT` when
/// the stream exists with another configuration.
///
/// # Safety
/// `stream` must be a live handle; `content_type` `NULL` or NUL-terminated; `out_created`
/// `NULL` or valid for writing a `bool`.
#[no_mangle]
pub unsafe extern "C" fn ds_stream_create(
    stream: *const ds_stream,
    content_type: *const c_char,
    out_created: *mut bool,
) -> ds_status {
    boundary(|| {
        // SAFETY: `stream` is NULL or live per this function's contract.
        let stream = unsafe { handle(stream, "stream") }?;
        // SAFETY: `content_type` is NULL or NUL-terminated per this function's contract.
        let content_type = unsafe { opt_str_arg(content_type, "content_type") }?;
        let mut opts = CreateOptions::new();
        if let Some(ct) = content_type {
            opts = opts.content_type(ct);
        }
        let result = block_on(stream.stream.create(opts))??;
        // SAFETY: `out_created` is NULL or writable per this function's contract.
        unsafe { write_opt(out_created, result.created) };
        Ok(())
    })
}

/// Appends `len` bytes to the stream, with the stream's content type (learned with one
/// `HEAD` if the handle does not know it). On a JSON stream the bytes must be one JSON
/// value. Waits for the server's acknowledgement.
///
/// If `out_next_offset` is not `NULL` it receives the tail offset after the append (free
/// with `ds_string_free`), or `NULL` on failure. `data` may be `NULL` when `len` is 0.
///
/// # Safety
/// `stream` must be a live handle; `data` valid for reading `len` bytes; `out_next_offset`
/// `NULL` or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn ds_stream_append(
    stream: *const ds_stream,
    data: *const u8,
    len: usize,
    out_next_offset: *mut *mut c_char,
) -> ds_status {
    boundary(|| {
        // SAFETY: `out_next_offset` is NULL or writable per this function's contract.
        unsafe { write_opt(out_next_offset, std::ptr::null_mut()) };
        // SAFETY: `stream` is NULL or live per this function's contract.
        let stream = unsafe { handle(stream, "stream") }?;
        // SAFETY: `data` is readable for `len` bytes per this function's contract.
        let data = unsafe { bytes_arg(data, len, "data") }?;
        let result = block_on(stream.stream.append(data.to_vec()))??;
        let offset = c_string(&result.next_offset)?;
        // SAFETY: `out_next_offset` is NULL or writable per this function's contract.
        unsafe { write_opt_string(out_next_offset, offset) };
        Ok(())
    })
}

/// Reads the stream's metadata (`HEAD`) into `*out`.
///
/// `*out` is always overwritten (with empty fields on failure), so `ds_stream_info_clear`
/// may be called on it whatever the result; it need not be initialized before.
///
/// # Safety
/// `stream` must be a live handle; `out` valid for writing a `ds_stream_info`.
#[no_mangle]
pub unsafe extern "C" fn ds_stream_head(
    stream: *const ds_stream,
    out: *mut ds_stream_info,
) -> ds_status {
    boundary(|| {
        // SAFETY: `out` is writable per this function's contract.
        unsafe { init_out(out, ds_stream_info::empty(), "out") }?;
        // SAFETY: `stream` is NULL or live per this function's contract.
        let stream = unsafe { handle(stream, "stream") }?;
        let info = block_on(stream.stream.head())??;
        let content_type = info.content_type.as_deref().map(c_string).transpose()?;
        let next_offset = c_string(&info.next_offset)?;
        let expires_at = info.expires_at.as_deref().map(c_string).transpose()?;
        let ttl_seconds = info.ttl_seconds.map_or(-1, |t| i64::try_from(t).unwrap_or(i64::MAX));
        let filled = ds_stream_info {
            content_type: content_type.map_or(std::ptr::null_mut(), |s| s.into_raw()),
            next_offset: next_offset.into_raw(),
            ttl_seconds,
            expires_at: expires_at.map_or(std::ptr::null_mut(), |s| s.into_raw()),
            closed: info.closed,
        };
        // SAFETY: checked non-null and writable above; the empty value there owns nothing.
        unsafe { out.write(filled) };
        Ok(())
    })
}

/// Frees the strings of a `ds_stream_info` filled by `ds_stream_head` and resets its
/// fields (pointers to `NULL`, `ttl_seconds` to -1). Clearing twice is harmless. `NULL` is a
/// no-op.
///
/// # Safety
/// `info` must be `NULL` or point to a `ds_stream_info` written by `ds_stream_head` (or
/// already cleared).
#[no_mangle]
pub unsafe extern "C" fn ds_stream_info_clear(info: *mut ds_stream_info) {
    guard((), || {
        // SAFETY: `info` is NULL or a valid, exclusively borrowed struct per the contract.
        let Some(info) = (unsafe { info.as_mut() }) else { return };
        let taken = std::mem::replace(info, ds_stream_info::empty());
        for s in [taken.content_type, taken.next_offset, taken.expires_at] {
            // SAFETY: each field is NULL or a string from `CString::into_raw` in
            // `ds_stream_head`, owned by this struct and freed once (the struct was reset).
            unsafe { crate::ds_string_free(s) };
        }
    })
}

/// Closes the stream: no more appends. Idempotent: closing a closed stream succeeds.
///
/// If `out_final_offset` is not `NULL` it receives the stream's final offset (free with
/// `ds_string_free`), or `NULL` on failure.
///
/// # Safety
/// `stream` must be a live handle; `out_final_offset` `NULL` or valid for writing a
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn ds_stream_close(
    stream: *const ds_stream,
    out_final_offset: *mut *mut c_char,
) -> ds_status {
    boundary(|| {
        // SAFETY: `out_final_offset` is NULL or writable per this function's contract.
        unsafe { write_opt(out_final_offset, std::ptr::null_mut()) };
        // SAFETY: `stream` is NULL or live per this function's contract.
        let stream = unsafe { handle(stream, "stream") }?;
        let result = block_on(stream.stream.close())??;
        let offset = c_string(&result.final_offset)?;
        // SAFETY: `out_final_offset` is NULL or writable per this function's contract.
        unsafe { write_opt_string(out_final_offset, offset) };
        Ok(())
    })
}

/// Deletes the stream. Fails with `DS_NOT_FOUND` when it does not exist.
///
/// # Safety
/// `stream` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn ds_stream_delete(stream: *const ds_stream) -> ds_status {
    boundary(|| {
        // SAFETY: `stream` is NULL or live per this function's contract.
        let stream = unsafe { handle(stream, "stream") }?;
        block_on(stream.stream.delete())??;
        Ok(())
    })
}
