//! The one place where core errors become JavaScript errors.
//!
//! A core [`Error`] crosses the boundary as a napi error whose message is
//! [`MARKER`] followed by a JSON object: the JavaScript class to build (see
//! [`class_name`]), the stable `code`, the message and every fact the core error carries
//! (`status`, `url`, `path`, `expectedSeq`, `receivedSeq`, `currentEpoch`, `finalOffset`,
//! `retryAfterMs`, `attempts`, `argument`, `retryable`). `lib/errors.js` only instantiates
//! the named class with those fields; it makes no decision of its own.

use durastream::client::{Error, ErrorKind};
use serde_json::{json, Map, Value};

/// Prefix of the message of every error produced here.
pub const MARKER: &str = "\u{0}durastream:";

/// The JavaScript error class (exported by the package) for a core error kind.
pub fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "StreamNotFoundError",
        ErrorKind::Gone => "StreamGoneError",
        ErrorKind::Conflict => "StreamConflictError",
        ErrorKind::StreamClosed => "StreamClosedError",
        ErrorKind::SequenceConflict => "SequenceConflictError",
        ErrorKind::SequenceGap => "SequenceGapError",
        ErrorKind::StaleEpoch => "StaleEpochError",
        ErrorKind::BadRequest => "BadRequestError",
        ErrorKind::InvalidOffset => "InvalidOffsetError",
        ErrorKind::Unauthorized => "UnauthorizedError",
        ErrorKind::RetryExhausted => "RetryExhaustedError",
        ErrorKind::Parse => "ParseError",
        ErrorKind::Network => "NetworkError",
        ErrorKind::Timeout => "TimeoutError",
        ErrorKind::InvalidArgument => "InvalidArgumentError",
        ErrorKind::BufferFull => "BufferFullError",
        ErrorKind::ProducerClosed => "ProducerClosedError",
        _ => "UnexpectedStatusError",
    }
}

/// The error's class, code and facts as a JSON object.
pub fn describe(e: &Error) -> Value {
    let mut m = Map::new();
    m.insert("class".into(), json!(class_name(e.kind())));
    m.insert("code".into(), json!(e.code()));
    m.insert("message".into(), json!(e.message()));
    m.insert("retryable".into(), json!(e.is_retryable()));
    m.insert("attempts".into(), json!(e.attempts()));
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put("status", e.status().map(|s| json!(s)));
    put("url", e.url().map(|s| json!(s)));
    put("path", e.stream_path().map(|s| json!(s)));
    put("expectedSeq", e.expected_seq().map(|s| json!(s)));
    put("receivedSeq", e.received_seq().map(|s| json!(s)));
    put("currentEpoch", e.current_epoch().map(|s| json!(s)));
    put("finalOffset", e.final_offset().map(|s| json!(s)));
    put("retryAfterMs", e.retry_after().map(|d| json!(d.as_millis() as u64)));
    put("argument", e.argument().map(|s| json!(s)));
    Value::Object(m)
}

/// The encoded form handed to JavaScript (also passed to producer `onError` callbacks).
pub fn encode(e: &Error) -> String {
    format!("{MARKER}{}", describe(e))
}

/// A core error as a napi error (rejected promise or thrown exception).
pub fn to_napi(e: &Error) -> napi::Error {
    napi::Error::new(napi::Status::GenericFailure, encode(e))
}

/// The error of a call cancelled through its `CancelToken`.
pub fn cancelled() -> napi::Error {
    let v = json!({"class": "AbortError", "code": "ABORT_ERR",
                   "message": "The operation was aborted", "retryable": false, "attempts": 1});
    napi::Error::new(napi::Status::GenericFailure, format!("{MARKER}{v}"))
}

/// An invalid-argument error raised by the binding while converting arguments.
pub fn invalid_argument(argument: &'static str, message: impl Into<String>) -> napi::Error {
    to_napi(&Error::invalid_argument(argument, message))
}

/// The facts of a State Protocol error: class `StateError` with the stable `code`
/// (`MALFORMED_EVENT`, `DECODE_ERROR`, `INVALID_ARGUMENT`, `BAD_CHECKPOINT`, `STOPPED`)
/// and `field`, `index`, `offset`. A stream error is the client error underneath, as its
/// own class.
pub fn describe_state(e: &durastream::state::Error) -> Value {
    if let Some(client) = e.client_error() {
        return describe(client);
    }
    let mut m = Map::new();
    m.insert("class".into(), json!("StateError"));
    m.insert("code".into(), json!(e.code()));
    m.insert("message".into(), json!(e.message()));
    m.insert("retryable".into(), json!(e.is_retryable()));
    m.insert("attempts".into(), json!(1));
    if let Some(f) = e.field() {
        m.insert("field".into(), json!(f));
    }
    if let Some(i) = e.index() {
        m.insert("index".into(), json!(i));
    }
    if let Some(o) = e.offset() {
        m.insert("offset".into(), json!(o));
    }
    Value::Object(m)
}

/// A State Protocol error as a napi error.
pub fn state_to_napi(e: &durastream::state::Error) -> napi::Error {
    napi::Error::new(napi::Status::GenericFailure, format!("{MARKER}{}", describe_state(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_class() {
        let pinned = [
            (ErrorKind::NotFound, "StreamNotFoundError", "NOT_FOUND"),
            (ErrorKind::Gone, "StreamGoneError", "GONE"),
            (ErrorKind::Conflict, "StreamConflictError", "CONFLICT"),
            (ErrorKind::StreamClosed, "StreamClosedError", "STREAM_CLOSED"),
            (ErrorKind::SequenceConflict, "SequenceConflictError", "SEQUENCE_CONFLICT"),
            (ErrorKind::SequenceGap, "SequenceGapError", "SEQUENCE_GAP"),
            (ErrorKind::StaleEpoch, "StaleEpochError", "STALE_EPOCH"),
            (ErrorKind::BadRequest, "BadRequestError", "BAD_REQUEST"),
            (ErrorKind::InvalidOffset, "InvalidOffsetError", "INVALID_OFFSET"),
            (ErrorKind::Unauthorized, "UnauthorizedError", "UNAUTHORIZED"),
            (ErrorKind::UnexpectedStatus, "UnexpectedStatusError", "UNEXPECTED_STATUS"),
            (ErrorKind::RetryExhausted, "RetryExhaustedError", "RETRY_EXHAUSTED"),
            (ErrorKind::Parse, "ParseError", "PARSE_ERROR"),
            (ErrorKind::Network, "NetworkError", "NETWORK_ERROR"),
            (ErrorKind::Timeout, "TimeoutError", "TIMEOUT"),
            (ErrorKind::InvalidArgument, "InvalidArgumentError", "INVALID_ARGUMENT"),
            (ErrorKind::BufferFull, "BufferFullError", "BUFFER_FULL"),
            (ErrorKind::ProducerClosed, "ProducerClosedError", "PRODUCER_CLOSED"),
        ];
        for (kind, class, code) in pinned {
            assert_eq!(class_name(kind), class);
            assert_eq!(kind.code(), code);
        }
    }

    #[test]
    fn facts_travel_as_fields() {
        let e = Error::invalid_argument("maxBatchBytes", "maxBatchBytes must be at least 1");
        let v = describe(&e);
        assert_eq!(v["class"], "InvalidArgumentError");
        assert_eq!(v["code"], "INVALID_ARGUMENT");
        assert_eq!(v["argument"], "maxBatchBytes");
        assert_eq!(v["retryable"], false);
        assert!(v.get("status").is_none());
        assert!(encode(&e).starts_with(MARKER));
    }

    #[test]
    fn state_errors_keep_their_facts() {
        let e = durastream::state::Error::malformed("headers.operation", "bad operation");
        let v = describe_state(&e);
        assert_eq!(v["class"], "StateError");
        assert_eq!(v["code"], "MALFORMED_EVENT");
        assert_eq!(v["field"], "headers.operation");
        let decode = durastream::state::MaterializedState::new()
            .apply_batch_json(b"{}", durastream::state::MalformedPolicy::Skip)
            .expect_err("not an array");
        assert_eq!(describe_state(&decode)["code"], "MALFORMED_EVENT");
    }
}
