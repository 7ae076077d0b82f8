//! Client errors → the adapter protocol's error results (ADAPTER_PROTOCOL.md §4).

use durastream::client::{Error, ErrorKind};
use serde_json::{json, Value};

/// The protocol's `errorCode` for a client error kind.
pub fn code(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "NOT_FOUND",
        ErrorKind::InvalidOffset => "INVALID_OFFSET",
        ErrorKind::SequenceConflict => "SEQUENCE_CONFLICT",
        ErrorKind::StreamClosed => "STREAM_CLOSED",
        ErrorKind::Parse => "PARSE_ERROR",
        ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
        ErrorKind::Conflict => "CONFLICT",
        ErrorKind::Network => "NETWORK_ERROR",
        ErrorKind::Timeout => "TIMEOUT",
        ErrorKind::StaleEpoch => "STALE_EPOCH",
        ErrorKind::SequenceGap => "SEQUENCE_GAP",
        ErrorKind::ProducerClosed => "CLOSED",
        _ => "UNEXPECTED_STATUS",
    }
}

/// An error result for `command`.
pub fn result(command: &str, e: &Error) -> Value {
    let mut v = json!({
        "type": "error",
        "success": false,
        "commandType": command,
        "errorCode": code(e.kind()),
        "message": e.message(),
    });
    if let Some(status) = e.status() {
        v["status"] = json!(status);
    }
    v
}

/// An error result not caused by the client (bad command, unsupported feature).
pub fn plain(command: &str, code: &str, message: &str) -> Value {
    json!({"type": "error", "success": false, "commandType": command, "errorCode": code, "message": message})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asserted_codes_are_stable() {
        assert_eq!(code(ErrorKind::NotFound), "NOT_FOUND");
        assert_eq!(code(ErrorKind::InvalidOffset), "INVALID_OFFSET");
        assert_eq!(code(ErrorKind::SequenceConflict), "SEQUENCE_CONFLICT");
        assert_eq!(code(ErrorKind::StreamClosed), "STREAM_CLOSED");
        assert_eq!(code(ErrorKind::Parse), "PARSE_ERROR");
        assert_eq!(code(ErrorKind::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code(ErrorKind::RetryExhausted), "UNEXPECTED_STATUS");
    }
}
