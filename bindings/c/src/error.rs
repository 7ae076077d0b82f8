//! Errors across the C boundary, mapped once: the stable `ds_status` codes, the mapping from
//! the core [`ErrorKind`], the thread-local last error, and the panic boundary that every
//! exported function goes through.
//!
//! Policy: every fallible function returns a `ds_status`. On failure it also stores the
//! code, a message and the HTTP status (when there was a response) in a thread-local "last
//! error" that the `ds_last_error_*` functions read; on success it clears it. The last
//! error belongs to the calling thread, so callers on several threads do not see each
//! other's errors.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use durastream::client::{Error, ErrorKind};

/// Status code of every fallible function. `DS_OK` (0) is success; codes 1 to 18 mirror the
/// core client's `ErrorKind` (their names are its stable codes with a `DS_` prefix); codes
/// from 100 are specific to the C API. Values never change; new codes may be added.
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ds_status {
    /// Success.
    DS_OK = 0,
    /// The stream does not exist (404). Create it, or stop using it.
    DS_NOT_FOUND = 1,
    /// The stream was deleted while forks still use it, or the offset is older than what
    /// the server retains (410). Start again from the beginning or `now`.
    DS_GONE = 2,
    /// The stream exists with another configuration, or the content type does not match
    /// (409). Fix the request.
    DS_CONFLICT = 3,
    /// The stream is closed: no more appends (409). Not retryable.
    DS_STREAM_CLOSED = 4,
    /// A writer sequence number was not greater than the last one (409).
    DS_SEQUENCE_CONFLICT = 5,
    /// The server expected another producer sequence number (409); the producer is fenced.
    DS_SEQUENCE_GAP = 6,
    /// A newer producer epoch exists (403): this producer is a zombie.
    DS_STALE_EPOCH = 7,
    /// The server refused the request as malformed (400, 413, other 4xx). Fix the input.
    DS_BAD_REQUEST = 8,
    /// The server refused the read offset. Use the beginning, `now` or a returned offset.
    DS_INVALID_OFFSET = 9,
    /// Authentication or authorization failed (401, 403). Refresh credentials.
    DS_UNAUTHORIZED = 10,
    /// Another HTTP status that is not retried (405, 501, some 5xx).
    DS_UNEXPECTED_STATUS = 11,
    /// A transient failure persisted through every retry. Retrying later may succeed.
    DS_RETRY_EXHAUSTED = 12,
    /// A response could not be parsed (malformed body, event or header).
    DS_PARSE_ERROR = 13,
    /// The connection failed (refused, reset, DNS). Retryable.
    DS_NETWORK_ERROR = 14,
    /// A request timed out. Retryable.
    DS_TIMEOUT = 15,
    /// An argument was invalid before anything was sent (including `NULL` where a value is
    /// required, and strings that are not UTF-8).
    DS_INVALID_ARGUMENT = 16,
    /// The producer holds more unacknowledged data than its limit. Flush, then retry.
    DS_BUFFER_FULL = 17,
    /// The producer was closed and accepts no more data.
    DS_PRODUCER_CLOSED = 18,
    /// A State Protocol event does not follow the protocol; `ds_last_error_field` names
    /// the field at fault. Fix the producer of the stream.
    DS_MALFORMED_EVENT = 30,
    /// A saved state checkpoint could not be read. Start from the beginning instead.
    DS_BAD_CHECKPOINT = 31,
    /// A state follower stopped earlier on a malformed event.
    DS_STOPPED = 32,
    /// An I/O error outside HTTP: the in-process server could not start or stop, or the
    /// library's runtime could not be built.
    DS_IO_ERROR = 100,
    /// An error kind newer than this header. Treat as not retryable.
    DS_UNKNOWN = 101,
    /// A bug inside the library was caught at the boundary (a Rust panic). The handles
    /// involved may be in an inconsistent state.
    DS_PANIC = 102,
}

impl ds_status {
    /// Every status, in code order.
    pub(crate) const ALL: [ds_status; 25] = [
        ds_status::DS_OK,
        ds_status::DS_NOT_FOUND,
        ds_status::DS_GONE,
        ds_status::DS_CONFLICT,
        ds_status::DS_STREAM_CLOSED,
        ds_status::DS_SEQUENCE_CONFLICT,
        ds_status::DS_SEQUENCE_GAP,
        ds_status::DS_STALE_EPOCH,
        ds_status::DS_BAD_REQUEST,
        ds_status::DS_INVALID_OFFSET,
        ds_status::DS_UNAUTHORIZED,
        ds_status::DS_UNEXPECTED_STATUS,
        ds_status::DS_RETRY_EXHAUSTED,
        ds_status::DS_PARSE_ERROR,
        ds_status::DS_NETWORK_ERROR,
        ds_status::DS_TIMEOUT,
        ds_status::DS_INVALID_ARGUMENT,
        ds_status::DS_BUFFER_FULL,
        ds_status::DS_PRODUCER_CLOSED,
        ds_status::DS_MALFORMED_EVENT,
        ds_status::DS_BAD_CHECKPOINT,
        ds_status::DS_STOPPED,
        ds_status::DS_IO_ERROR,
        ds_status::DS_UNKNOWN,
        ds_status::DS_PANIC,
    ];

    /// The code's name without the `DS_` prefix, as a NUL-terminated static string. For the
    /// kinds it is the core's stable code (`NOT_FOUND`, `PARSE_ERROR`, ...).
    pub(crate) fn name(self) -> &'static std::ffi::CStr {
        match self {
            ds_status::DS_OK => c"OK",
            ds_status::DS_NOT_FOUND => c"NOT_FOUND",
            ds_status::DS_GONE => c"GONE",
            ds_status::DS_CONFLICT => c"CONFLICT",
            ds_status::DS_STREAM_CLOSED => c"STREAM_CLOSED",
            ds_status::DS_SEQUENCE_CONFLICT => c"SEQUENCE_CONFLICT",
            ds_status::DS_SEQUENCE_GAP => c"SEQUENCE_GAP",
            ds_status::DS_STALE_EPOCH => c"STALE_EPOCH",
            ds_status::DS_BAD_REQUEST => c"BAD_REQUEST",
            ds_status::DS_INVALID_OFFSET => c"INVALID_OFFSET",
            ds_status::DS_UNAUTHORIZED => c"UNAUTHORIZED",
            ds_status::DS_UNEXPECTED_STATUS => c"UNEXPECTED_STATUS",
            ds_status::DS_RETRY_EXHAUSTED => c"RETRY_EXHAUSTED",
            ds_status::DS_PARSE_ERROR => c"PARSE_ERROR",
            ds_status::DS_NETWORK_ERROR => c"NETWORK_ERROR",
            ds_status::DS_TIMEOUT => c"TIMEOUT",
            ds_status::DS_INVALID_ARGUMENT => c"INVALID_ARGUMENT",
            ds_status::DS_BUFFER_FULL => c"BUFFER_FULL",
            ds_status::DS_PRODUCER_CLOSED => c"PRODUCER_CLOSED",
            ds_status::DS_MALFORMED_EVENT => c"MALFORMED_EVENT",
            ds_status::DS_BAD_CHECKPOINT => c"BAD_CHECKPOINT",
            ds_status::DS_STOPPED => c"STOPPED",
            ds_status::DS_IO_ERROR => c"IO_ERROR",
            ds_status::DS_UNKNOWN => c"UNKNOWN",
            ds_status::DS_PANIC => c"PANIC",
        }
    }
}

/// The one mapping from the core's error kinds to C status codes.
pub(crate) fn status_of_kind(kind: ErrorKind) -> ds_status {
    match kind {
        ErrorKind::NotFound => ds_status::DS_NOT_FOUND,
        ErrorKind::Gone => ds_status::DS_GONE,
        ErrorKind::Conflict => ds_status::DS_CONFLICT,
        ErrorKind::StreamClosed => ds_status::DS_STREAM_CLOSED,
        ErrorKind::SequenceConflict => ds_status::DS_SEQUENCE_CONFLICT,
        ErrorKind::SequenceGap => ds_status::DS_SEQUENCE_GAP,
        ErrorKind::StaleEpoch => ds_status::DS_STALE_EPOCH,
        ErrorKind::BadRequest => ds_status::DS_BAD_REQUEST,
        ErrorKind::InvalidOffset => ds_status::DS_INVALID_OFFSET,
        ErrorKind::Unauthorized => ds_status::DS_UNAUTHORIZED,
        ErrorKind::UnexpectedStatus => ds_status::DS_UNEXPECTED_STATUS,
        ErrorKind::RetryExhausted => ds_status::DS_RETRY_EXHAUSTED,
        ErrorKind::Parse => ds_status::DS_PARSE_ERROR,
        ErrorKind::Network => ds_status::DS_NETWORK_ERROR,
        ErrorKind::Timeout => ds_status::DS_TIMEOUT,
        ErrorKind::InvalidArgument => ds_status::DS_INVALID_ARGUMENT,
        ErrorKind::BufferFull => ds_status::DS_BUFFER_FULL,
        ErrorKind::ProducerClosed => ds_status::DS_PRODUCER_CLOSED,
        _ => ds_status::DS_UNKNOWN,
    }
}

/// The one mapping from State Protocol errors to C status codes (a stream error is the
/// client error underneath).
pub(crate) fn status_of_state(e: &durastream::state::Error) -> ds_status {
    use durastream::state::ErrorKind as K;
    if let Some(c) = e.client_error() {
        return status_of_kind(c.kind());
    }
    match e.kind() {
        K::Malformed => ds_status::DS_MALFORMED_EVENT,
        K::Checkpoint => ds_status::DS_BAD_CHECKPOINT,
        K::Stopped => ds_status::DS_STOPPED,
        K::InvalidArgument | K::Decode => ds_status::DS_INVALID_ARGUMENT,
        _ => ds_status::DS_UNKNOWN,
    }
}

/// A failure inside the C adapter, before it is flattened into the last error.
#[derive(Debug)]
pub(crate) enum FfiError {
    /// An error from the core client.
    Core(Error),
    /// A C argument was `NULL`, not UTF-8, or out of range.
    Argument(String),
    /// Text from the server could not be handed to C (an interior NUL byte).
    Text(String),
    /// An I/O error (server start/stop, runtime creation).
    Io(std::io::Error),
    /// A Rust panic caught at the boundary.
    Panic(String),
    /// A State Protocol error.
    State(durastream::state::Error),
}

impl From<durastream::state::Error> for FfiError {
    fn from(e: durastream::state::Error) -> Self {
        FfiError::State(e)
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        FfiError::Core(e)
    }
}

impl From<std::io::Error> for FfiError {
    fn from(e: std::io::Error) -> Self {
        FfiError::Io(e)
    }
}

impl FfiError {
    /// An invalid-argument error naming the C parameter.
    pub(crate) fn argument(name: &str, problem: &str) -> FfiError {
        FfiError::Argument(format!("{name}: {problem}"))
    }

    /// The stable code.
    pub(crate) fn status(&self) -> ds_status {
        match self {
            FfiError::Core(e) => status_of_kind(e.kind()),
            FfiError::Argument(_) => ds_status::DS_INVALID_ARGUMENT,
            FfiError::Text(_) => ds_status::DS_PARSE_ERROR,
            FfiError::Io(_) => ds_status::DS_IO_ERROR,
            FfiError::Panic(_) => ds_status::DS_PANIC,
            FfiError::State(e) => status_of_state(e),
        }
    }

    /// The HTTP status behind the error, 0 when there was no response.
    pub(crate) fn http_status(&self) -> u16 {
        match self {
            FfiError::Core(e) => e.status().unwrap_or(0),
            FfiError::State(e) => e.client_error().and_then(|c| c.status()).unwrap_or(0),
            _ => 0,
        }
    }

    /// Trying the same thing again later may succeed.
    pub(crate) fn retryable(&self) -> bool {
        match self {
            FfiError::Core(e) => e.is_retryable(),
            FfiError::State(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// The human-readable message.
    pub(crate) fn message(&self) -> String {
        match self {
            FfiError::Core(e) => e.to_string(),
            FfiError::Argument(m) | FfiError::Text(m) => m.clone(),
            FfiError::Io(e) => e.to_string(),
            FfiError::Panic(m) => format!("internal error (panic): {m}"),
            FfiError::State(e) => e.to_string(),
        }
    }
}

struct LastError {
    status: ds_status,
    message: CString,
    http_status: u16,
    retryable: bool,
    field: Option<CString>,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

fn set_last_error(e: &FfiError) -> ds_status {
    let status = e.status();
    let message = CString::new(e.message().replace('\0', "\\0")).unwrap_or_default();
    let field = match e {
        FfiError::State(s) => {
            s.field().map(|f| CString::new(f.replace('\0', "\\0")).unwrap_or_default())
        }
        _ => None,
    };
    let last = LastError {
        status,
        message,
        http_status: e.http_status(),
        retryable: e.retryable(),
        field,
    };
    // `try_with` fails only while the thread is being torn down; the code is still returned.
    let _ = LAST_ERROR.try_with(|l| *l.borrow_mut() = Some(last));
    status
}

fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|l| *l.borrow_mut() = None);
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// The panic boundary of every fallible export: runs `f`, records its error (or a caught
/// panic) as the thread's last error, and returns the stable code.
pub(crate) fn boundary(f: impl FnOnce() -> Result<(), FfiError>) -> ds_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            clear_last_error();
            ds_status::DS_OK
        }
        Ok(Err(e)) => set_last_error(&e),
        Err(payload) => set_last_error(&FfiError::Panic(panic_message(payload.as_ref()))),
    }
}

/// The panic boundary of exports that return no status (accessors, `*_free`): a caught
/// panic becomes `fallback` and is recorded as the thread's last error.
pub(crate) fn guard<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            set_last_error(&FfiError::Panic(panic_message(payload.as_ref())));
            fallback
        }
    }
}

/// The code of the calling thread's last error, `DS_OK` when the last fallible call
/// succeeded (or none was made).
#[no_mangle]
pub extern "C" fn ds_last_error_code() -> ds_status {
    guard(ds_status::DS_PANIC, || {
        LAST_ERROR
            .try_with(|l| l.borrow().as_ref().map_or(ds_status::DS_OK, |e| e.status))
            .unwrap_or(ds_status::DS_OK)
    })
}

/// The message of the calling thread's last error, or `""` when there is none. Never
/// `NULL`. The string belongs to the library and stays valid until the next call of a
/// fallible `ds_` function on the same thread.
#[no_mangle]
pub extern "C" fn ds_last_error_message() -> *const c_char {
    guard(c"".as_ptr(), || {
        LAST_ERROR
            .try_with(|l| l.borrow().as_ref().map(|e| e.message.as_ptr()))
            .ok()
            .flatten()
            .unwrap_or(c"".as_ptr())
    })
}

/// On `DS_MALFORMED_EVENT`: the field at fault of the calling thread's last error
/// (`type`, `key`, `value`, `headers.operation`, ...; `""` for the event as a whole), or
/// `NULL` when the last error names no field. Valid until the next fallible `ds_` call on
/// the same thread.
#[no_mangle]
pub extern "C" fn ds_last_error_field() -> *const c_char {
    guard(std::ptr::null(), || {
        LAST_ERROR
            .try_with(|l| l.borrow().as_ref().and_then(|e| e.field.as_ref().map(|f| f.as_ptr())))
            .ok()
            .flatten()
            .unwrap_or(std::ptr::null())
    })
}

/// The HTTP status behind the calling thread's last error, or 0 when it had no HTTP
/// response (network failures, invalid arguments, no error).
#[no_mangle]
pub extern "C" fn ds_last_error_http_status() -> u16 {
    guard(0, || {
        LAST_ERROR.try_with(|l| l.borrow().as_ref().map_or(0, |e| e.http_status)).unwrap_or(0)
    })
}

/// Whether the calling thread's last error is transient, so that trying the same thing
/// again later may succeed (network failures, timeouts, exhausted retries, a full producer
/// buffer, 429 and retryable 5xx). `false` when there is no error.
#[no_mangle]
pub extern "C" fn ds_last_error_retryable() -> bool {
    guard(false, || {
        LAST_ERROR.try_with(|l| l.borrow().as_ref().is_some_and(|e| e.retryable)).unwrap_or(false)
    })
}

/// The name of a status code without the `DS_` prefix (`"OK"`, `"NOT_FOUND"`, ...), or
/// `"UNKNOWN"` for a number that is not a code. A static string, never `NULL`.
#[no_mangle]
pub extern "C" fn ds_status_name(code: i32) -> *const c_char {
    guard(c"UNKNOWN".as_ptr(), || {
        ds_status::ALL
            .iter()
            .find(|s| **s as i32 == code)
            .map_or(c"UNKNOWN".as_ptr(), |s| s.name().as_ptr())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [(ErrorKind, i32); 18] = [
        (ErrorKind::NotFound, 1),
        (ErrorKind::Gone, 2),
        (ErrorKind::Conflict, 3),
        (ErrorKind::StreamClosed, 4),
        (ErrorKind::SequenceConflict, 5),
        (ErrorKind::SequenceGap, 6),
        (ErrorKind::StaleEpoch, 7),
        (ErrorKind::BadRequest, 8),
        (ErrorKind::InvalidOffset, 9),
        (ErrorKind::Unauthorized, 10),
        (ErrorKind::UnexpectedStatus, 11),
        (ErrorKind::RetryExhausted, 12),
        (ErrorKind::Parse, 13),
        (ErrorKind::Network, 14),
        (ErrorKind::Timeout, 15),
        (ErrorKind::InvalidArgument, 16),
        (ErrorKind::BufferFull, 17),
        (ErrorKind::ProducerClosed, 18),
    ];

    #[test]
    fn kind_mapping_is_pinned() {
        for (kind, code) in KINDS {
            let status = status_of_kind(kind);
            assert_eq!(status as i32, code, "{kind:?}");
            assert_eq!(status.name().to_str().expect("ASCII"), kind.code(), "{kind:?}");
        }
        assert_eq!(ds_status::DS_OK as i32, 0);
        assert_eq!(ds_status::DS_IO_ERROR as i32, 100);
        assert_eq!(ds_status::DS_UNKNOWN as i32, 101);
        assert_eq!(ds_status::DS_PANIC as i32, 102);
    }

    #[test]
    fn state_mapping_is_pinned() {
        let mut st = durastream::state::MaterializedState::new();
        let e = st
            .apply_batch_json(
                br#"[{"type":"t","headers":{"operation":"insert"}}]"#,
                Default::default(),
            )
            .map(|o| o.malformed[0].clone())
            .expect("an array");
        assert_eq!(status_of_state(&e), ds_status::DS_MALFORMED_EVENT);
        assert_eq!(ds_status::DS_MALFORMED_EVENT.name().to_str().expect("ASCII"), e.code());
        let bad = durastream::state::Checkpoint::from_json("{}").expect_err("not a checkpoint");
        assert_eq!(status_of_state(&bad), ds_status::DS_BAD_CHECKPOINT);
        assert_eq!(ds_status::DS_BAD_CHECKPOINT.name().to_str().expect("ASCII"), bad.code());
        assert_eq!(ds_status::DS_STOPPED as i32, 32);
        assert_eq!(boundary(|| Err(FfiError::State(e.clone()))), ds_status::DS_MALFORMED_EVENT);
        // SAFETY: a non-NULL result is a valid NUL-terminated string.
        let field = unsafe { std::ffi::CStr::from_ptr(ds_last_error_field()) };
        assert_eq!(field.to_str().expect("UTF-8"), "key");
    }

    #[test]
    fn all_codes_listed_once_in_order() {
        let codes: Vec<i32> = ds_status::ALL.iter().map(|s| *s as i32).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
    }

    #[test]
    fn boundary_records_and_clears_the_last_error() {
        let status =
            boundary(|| Err(FfiError::Core(Error::invalid_argument("producerId", "empty id"))));
        assert_eq!(status, ds_status::DS_INVALID_ARGUMENT);
        assert_eq!(ds_last_error_code(), ds_status::DS_INVALID_ARGUMENT);
        // SAFETY: the library returns a valid NUL-terminated string.
        let msg = unsafe { std::ffi::CStr::from_ptr(ds_last_error_message()) };
        assert_eq!(msg.to_str().expect("UTF-8"), "empty id");
        assert_eq!(boundary(|| Ok(())), ds_status::DS_OK);
        assert_eq!(ds_last_error_code(), ds_status::DS_OK);
        // SAFETY: as above.
        let msg = unsafe { std::ffi::CStr::from_ptr(ds_last_error_message()) };
        assert!(msg.is_empty());
    }

    #[test]
    fn boundary_catches_panics() {
        let status = boundary(|| panic!("boom"));
        assert_eq!(status, ds_status::DS_PANIC);
        assert_eq!(ds_last_error_code(), ds_status::DS_PANIC);
        // SAFETY: the library returns a valid NUL-terminated string.
        let msg = unsafe { std::ffi::CStr::from_ptr(ds_last_error_message()) };
        assert!(msg.to_str().expect("UTF-8").contains("boom"));
        assert_eq!(guard(7, || panic!("again")), 7);
        assert_eq!(ds_last_error_code(), ds_status::DS_PANIC);
    }

    #[test]
    fn io_and_argument_errors() {
        let e = FfiError::Io(std::io::Error::other("bind failed"));
        assert_eq!(e.status(), ds_status::DS_IO_ERROR);
        assert_eq!(e.http_status(), 0);
        let e = FfiError::argument("url", "must not be NULL");
        assert_eq!(e.status(), ds_status::DS_INVALID_ARGUMENT);
        assert_eq!(e.message(), "url: must not be NULL");
        // SAFETY: `ds_status_name` returns a static NUL-terminated string.
        let name = unsafe { std::ffi::CStr::from_ptr(ds_status_name(6)) };
        assert_eq!(name.to_str().expect("ASCII"), "SEQUENCE_GAP");
        // SAFETY: as above.
        let name = unsafe { std::ffi::CStr::from_ptr(ds_status_name(55)) };
        assert_eq!(name.to_str().expect("ASCII"), "UNKNOWN");
    }
}
