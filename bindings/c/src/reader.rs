//! Reads: a callback walk (`ds_stream_read`) and a chunk iterator (`ds_reader`).

use std::ffi::{c_char, c_void, CString};

use bytes::Bytes;
use durastream::client::{Chunk, LiveMode, ReadOptions, Reader, StartOffset};

use crate::client::ds_stream;
use crate::error::{boundary, ds_status, guard, FfiError};
use crate::ffi::{c_string, free_handle, handle, handle_mut, init_out, into_handle, opt_str_arg};
use crate::runtime::block_on;

/// How a read follows the stream (the `live` argument of `ds_stream_read` and
/// `ds_reader_open`).
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ds_live_mode {
    /// Catch-up only: read until up to date (or closed), then end.
    DS_LIVE_OFF = 0,
    /// Long-poll: each request waits for new data; ends only when the stream is closed.
    DS_LIVE_LONG_POLL = 1,
    /// Server-Sent Events; ends only when the stream is closed.
    DS_LIVE_SSE = 2,
    /// Catch up, then SSE, falling back to long-poll when SSE does not work.
    DS_LIVE_AUTO = 3,
}

/// One response's worth of stream data and position. Every pointer in it is borrowed: from
/// a callback, valid only during the call; from `ds_reader_next`, until the next call on
/// the same reader or `ds_reader_free`.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct ds_chunk {
    /// The bytes (not NUL-terminated); `NULL` only when `len` is 0. For JSON streams a JSON
    /// array of the messages.
    pub data: *const u8,
    /// The number of bytes at `data`. May be 0: such a chunk only reports position and
    /// flags.
    pub len: usize,
    /// The offset to resume from (NUL-terminated, never `NULL`).
    pub next_offset: *const c_char,
    /// The cursor the server sent, or `NULL`.
    pub cursor: *const c_char,
    /// The reader had every byte that existed when this was sent.
    pub up_to_date: bool,
    /// The stream is closed and this chunk holds its last bytes: the read ends.
    pub closed: bool,
}

/// Called by `ds_stream_read` with each chunk, on the calling thread and outside the
/// library's runtime (so it may call other `ds_` functions). Return `true` to go on, `false`
/// to stop reading (`ds_stream_read` then returns `DS_OK`).
#[allow(non_camel_case_types)]
pub type ds_read_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, chunk: *const ds_chunk) -> bool>;

/// A chunk iterator over one stream from one offset. Use from one thread at a time; free
/// with `ds_reader_free`.
#[allow(non_camel_case_types)]
pub struct ds_reader {
    reader: Reader,
    /// The last chunk returned, kept alive for the pointers handed out.
    current: Option<Held>,
}

/// A chunk in C-ready form: owns the memory a `ds_chunk` points into.
struct Held {
    data: Bytes,
    next_offset: CString,
    cursor: Option<CString>,
    up_to_date: bool,
    closed: bool,
}

impl Held {
    fn new(chunk: Chunk) -> Result<Held, FfiError> {
        Ok(Held {
            next_offset: c_string(&chunk.next_offset)?,
            cursor: chunk.cursor.as_deref().map(c_string).transpose()?,
            data: chunk.data,
            up_to_date: chunk.up_to_date,
            closed: chunk.closed,
        })
    }

    fn view(&self) -> ds_chunk {
        ds_chunk {
            data: if self.data.is_empty() { std::ptr::null() } else { self.data.as_ptr() },
            len: self.data.len(),
            next_offset: self.next_offset.as_ptr(),
            cursor: self.cursor.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            up_to_date: self.up_to_date,
            closed: self.closed,
        }
    }
}

pub(crate) fn live_mode(live: i32) -> Result<LiveMode, FfiError> {
    match live {
        x if x == ds_live_mode::DS_LIVE_OFF as i32 => Ok(LiveMode::Off),
        x if x == ds_live_mode::DS_LIVE_LONG_POLL as i32 => Ok(LiveMode::LongPoll),
        x if x == ds_live_mode::DS_LIVE_SSE as i32 => Ok(LiveMode::Sse),
        x if x == ds_live_mode::DS_LIVE_AUTO as i32 => Ok(LiveMode::Auto),
        other => Err(FfiError::argument("live", &format!("{other} is not a ds_live_mode"))),
    }
}

/// Builds a core reader from the C arguments.
///
/// # Safety
/// `stream` is `NULL` or live; `offset` is `NULL` or NUL-terminated.
unsafe fn open(
    stream: *const ds_stream,
    offset: *const c_char,
    live: i32,
) -> Result<Reader, FfiError> {
    // SAFETY: forwarded contract of this function.
    let stream = unsafe { handle(stream, "stream") }?;
    // SAFETY: forwarded contract of this function.
    let offset = unsafe { opt_str_arg(offset, "offset") }?;
    let start = offset.map_or(StartOffset::Beginning, StartOffset::from);
    Ok(stream.stream.read(ReadOptions::new().offset(start).live(live_mode(live)?)))
}

/// Reads the stream from `offset` and calls `callback` with each chunk until the read ends
/// (caught up with `DS_LIVE_OFF`, or the stream is closed), the callback returns `false`,
/// or an error occurs.
///
/// `offset` is `NULL` or `"-1"` for the beginning, `"now"` for the tail, or an offset the
/// server returned. `live` is a `ds_live_mode` value. `user_data` is passed to the
/// callback untouched. Transient failures are retried inside; an error is returned as its
/// status.
///
/// # Safety
/// `stream` must be a live handle; `offset` `NULL` or NUL-terminated; `callback` a valid
/// function that does not unwind.
#[no_mangle]
pub unsafe extern "C" fn ds_stream_read(
    stream: *const ds_stream,
    offset: *const c_char,
    live: i32,
    callback: ds_read_callback,
    user_data: *mut c_void,
) -> ds_status {
    boundary(|| {
        let callback =
            callback.ok_or_else(|| FfiError::argument("callback", "must not be NULL"))?;
        // SAFETY: forwarded contract of this function.
        let mut reader = unsafe { open(stream, offset, live) }?;
        loop {
            // The callback runs after `block_on` returns: outside the runtime.
            let Some(chunk) = block_on(reader.next_chunk())?? else { return Ok(()) };
            let held = Held::new(chunk)?;
            let view = held.view();
            // SAFETY: the caller guarantees `callback` is valid; `view` and the memory it
            // points into (`held`) live until after the call returns.
            let go_on = unsafe { callback(user_data, &view) };
            if !go_on {
                return Ok(());
            }
        }
    })
}

/// Opens a chunk iterator on the stream from `offset` (see `ds_stream_read` for `offset`
/// and `live`). Sends nothing until the first `ds_reader_next`.
///
/// On success `*out` holds the reader; on failure it is set to `NULL`.
///
/// # Safety
/// `stream` must be a live handle; `offset` `NULL` or NUL-terminated; `out` valid for
/// writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn ds_reader_open(
    stream: *const ds_stream,
    offset: *const c_char,
    live: i32,
    out: *mut *mut ds_reader,
) -> ds_status {
    boundary(|| {
        // SAFETY: `out` is writable per this function's contract.
        unsafe { init_out(out, std::ptr::null_mut(), "out") }?;
        // SAFETY: forwarded contract of this function.
        let reader = unsafe { open(stream, offset, live) }?;
        // SAFETY: checked non-null and writable above.
        unsafe { out.write(into_handle(ds_reader { reader, current: None })) };
        Ok(())
    })
}

/// Waits for the next chunk. On `DS_OK`, `*out_has_chunk` says whether `*out_chunk` holds
/// one: `false` means the read has ended (caught up with `DS_LIVE_OFF`, or the stream is
/// closed) and later calls keep returning `false`. The chunk's pointers stay valid until
/// the next call on this reader or `ds_reader_free`.
///
/// An error does not end the reader: calling again resumes from the same offset.
///
/// # Safety
/// `reader` must be a live reader not used concurrently; `out_chunk` valid for writing a
/// `ds_chunk`; `out_has_chunk` valid for writing a `bool`.
#[no_mangle]
pub unsafe extern "C" fn ds_reader_next(
    reader: *mut ds_reader,
    out_chunk: *mut ds_chunk,
    out_has_chunk: *mut bool,
) -> ds_status {
    boundary(|| {
        // SAFETY: `out_has_chunk` is writable per this function's contract.
        unsafe { init_out(out_has_chunk, false, "out_has_chunk") }?;
        if out_chunk.is_null() {
            return Err(FfiError::argument("out_chunk", "must not be NULL"));
        }
        // SAFETY: `reader` is NULL or live and not used concurrently per the contract.
        let reader = unsafe { handle_mut(reader, "reader") }?;
        reader.current = None;
        let Some(chunk) = block_on(reader.reader.next_chunk())?? else { return Ok(()) };
        let held = reader.current.insert(Held::new(chunk)?);
        // SAFETY: `out_chunk` checked non-null and writable per the contract; the memory
        // the view points into is owned by the reader until the next call or free.
        unsafe { out_chunk.write(held.view()) };
        // SAFETY: `out_has_chunk` checked non-null above.
        unsafe { out_has_chunk.write(true) };
        Ok(())
    })
}

/// Frees a reader (and the last chunk it returned). `NULL` is a no-op.
///
/// # Safety
/// `reader` must be `NULL` or a reader from `ds_reader_open`, not freed before and not used
/// after.
#[no_mangle]
pub unsafe extern "C" fn ds_reader_free(reader: *mut ds_reader) {
    // SAFETY: forwarded contract of this function.
    guard((), || unsafe { free_handle(reader) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_modes() {
        assert_eq!(live_mode(0).ok(), Some(LiveMode::Off));
        assert_eq!(live_mode(1).ok(), Some(LiveMode::LongPoll));
        assert_eq!(live_mode(2).ok(), Some(LiveMode::Sse));
        assert_eq!(live_mode(3).ok(), Some(LiveMode::Auto));
        let err = live_mode(9).expect_err("9 is not a mode");
        assert_eq!(err.status(), ds_status::DS_INVALID_ARGUMENT);
    }
}
