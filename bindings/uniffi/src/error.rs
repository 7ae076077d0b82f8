//! The one error type of the bindings, mapped from `durastream::client::Error` in exactly
//! one place ([`DurastreamError::from`]).
//!
//! One variant per core `ErrorKind` (so Kotlin can `catch (e: DurastreamException.NotFound)`
//! and Swift can `catch DurastreamError.NotFound`), each carrying the same [`ErrorInfo`]:
//! the facts as fields, never text to parse.

use durastream::client::{Error, ErrorKind};

/// The facts of an error. Every variant of [`DurastreamError`] carries one.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ErrorInfo {
    /// Stable upper-case code (`NOT_FOUND`, `STREAM_CLOSED`, ...), the same in every
    /// binding.
    pub code: String,
    /// Human-readable description.
    pub message: String,
    /// The HTTP status that caused the error, when there was a response.
    pub status: Option<u16>,
    /// The full URL of the stream the request went to.
    pub url: Option<String>,
    /// The path component of `url`.
    pub stream_path: Option<String>,
    /// On `SequenceGap`: the producer sequence number the server expected.
    pub expected_seq: Option<u64>,
    /// On `SequenceGap`: the producer sequence number the server received.
    pub received_seq: Option<u64>,
    /// On `StaleEpoch`: the server's current producer epoch.
    pub current_epoch: Option<u64>,
    /// On `StreamClosed`: the stream's final offset, when the server sent it.
    pub final_offset: Option<String>,
    /// The server's `Retry-After`, in milliseconds, when it sent one.
    pub retry_after_ms: Option<u64>,
    /// Attempts made before giving up (1 when the request was not retried).
    pub attempts: u32,
    /// On `InvalidArgument`: the option or argument at fault (camelCase).
    pub argument: Option<String>,
    /// Trying the same thing again later may succeed.
    pub retryable: bool,
}

/// An error from the durastream client. The variant says what to do; `info` holds the
/// facts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum DurastreamError {
    /// The stream does not exist (404). Create it, or stop using it.
    #[error("{}", info.message)]
    NotFound { info: ErrorInfo },
    /// The stream was deleted while forks still use it, or the offset is older than what the
    /// server retains (410). Start again from the beginning or `now`.
    #[error("{}", info.message)]
    Gone { info: ErrorInfo },
    /// The stream exists with another configuration, or the content type does not match
    /// (409). Fix the request.
    #[error("{}", info.message)]
    Conflict { info: ErrorInfo },
    /// The stream is closed: no more appends (409). See `info.finalOffset`.
    #[error("{}", info.message)]
    StreamClosed { info: ErrorInfo },
    /// A `Stream-Seq` value was not greater than the last one (409).
    #[error("{}", info.message)]
    SequenceConflict { info: ErrorInfo },
    /// The server expected another producer sequence number (409). See
    /// `info.expectedSeq` / `info.receivedSeq`. The producer is fenced until `restart()`.
    #[error("{}", info.message)]
    SequenceGap { info: ErrorInfo },
    /// A newer producer epoch exists (403). See `info.currentEpoch`; restart with a higher
    /// epoch or enable `autoClaim`.
    #[error("{}", info.message)]
    StaleEpoch { info: ErrorInfo },
    /// The server refused the request as malformed (400, 413, other 4xx). Fix the input.
    #[error("{}", info.message)]
    BadRequest { info: ErrorInfo },
    /// The server refused the read offset (400 on a read).
    #[error("{}", info.message)]
    InvalidOffset { info: ErrorInfo },
    /// Authentication or authorization failed (401, or 403 outside the producer protocol).
    #[error("{}", info.message)]
    Unauthorized { info: ErrorInfo },
    /// Any other HTTP status that is not retried.
    #[error("{}", info.message)]
    UnexpectedStatus { info: ErrorInfo },
    /// A transient failure persisted through every retry. Retrying later may succeed.
    #[error("{}", info.message)]
    RetryExhausted { info: ErrorInfo },
    /// A response could not be parsed (malformed JSON, SSE control event, base64, missing
    /// protocol header), or a JSON item given to the client is not valid JSON.
    #[error("{}", info.message)]
    Parse { info: ErrorInfo },
    /// The connection failed (refused, reset, dropped mid-body, DNS). Retryable.
    #[error("{}", info.message)]
    Network { info: ErrorInfo },
    /// A request or a deadline timed out. Retryable.
    #[error("{}", info.message)]
    Timeout { info: ErrorInfo },
    /// An argument was invalid before anything was sent. See `info.argument`.
    #[error("{}", info.message)]
    InvalidArgument { info: ErrorInfo },
    /// The producer holds more unacknowledged data than `maxBufferedBytes`. Wait for
    /// `flush()` or use `appendWait`.
    #[error("{}", info.message)]
    BufferFull { info: ErrorInfo },
    /// The producer was closed or detached and accepts no more data.
    #[error("{}", info.message)]
    ProducerClosed { info: ErrorInfo },
    /// A State Protocol error; `info.code` says which: `MALFORMED_EVENT` (an event does not
    /// follow the protocol, `field` names the field at fault), `DECODE_ERROR`,
    /// `INVALID_ARGUMENT`, `BAD_CHECKPOINT` (start from the beginning instead) or `STOPPED`
    /// (a follower stopped on a malformed event). Stream failures underneath raise their
    /// own variant.
    #[error("{}", info.message)]
    State {
        info: ErrorInfo,
        /// The field at fault (`type`, `key`, `headers.operation`, ...; empty for the
        /// event as a whole).
        field: Option<String>,
        /// The event's position in its batch.
        index: Option<u64>,
        /// The stream offset of the batch holding the event (followers).
        offset: Option<String>,
    },
}

impl DurastreamError {
    /// The facts, whatever the variant.
    pub fn info(&self) -> &ErrorInfo {
        use DurastreamError as E;
        match self {
            E::NotFound { info }
            | E::Gone { info }
            | E::Conflict { info }
            | E::StreamClosed { info }
            | E::SequenceConflict { info }
            | E::SequenceGap { info }
            | E::StaleEpoch { info }
            | E::BadRequest { info }
            | E::InvalidOffset { info }
            | E::Unauthorized { info }
            | E::UnexpectedStatus { info }
            | E::RetryExhausted { info }
            | E::Parse { info }
            | E::Network { info }
            | E::Timeout { info }
            | E::InvalidArgument { info }
            | E::BufferFull { info }
            | E::ProducerClosed { info }
            | E::State { info, .. } => info,
        }
    }

    /// An `InvalidArgument` error raised by the binding itself (argument conversion).
    pub(crate) fn invalid_argument(argument: &'static str, message: impl Into<String>) -> Self {
        Error::invalid_argument(argument, message).into()
    }
}

impl From<Error> for DurastreamError {
    fn from(e: Error) -> Self {
        let info = ErrorInfo {
            code: e.code().to_string(),
            message: e.message().to_string(),
            status: e.status(),
            url: e.url().map(str::to_string),
            stream_path: e.stream_path().map(str::to_string),
            expected_seq: e.expected_seq(),
            received_seq: e.received_seq(),
            current_epoch: e.current_epoch(),
            final_offset: e.final_offset().map(str::to_string),
            retry_after_ms: e
                .retry_after()
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            attempts: e.attempts(),
            argument: e.argument().map(str::to_string),
            retryable: e.is_retryable(),
        };
        DurastreamError::with_kind(e.kind(), info)
    }
}

impl From<durastream::state::Error> for DurastreamError {
    fn from(e: durastream::state::Error) -> Self {
        if let Some(client) = e.client_error() {
            return client.clone().into();
        }
        DurastreamError::State {
            info: ErrorInfo {
                code: e.code().to_string(),
                message: e.message().to_string(),
                status: None,
                url: None,
                stream_path: None,
                expected_seq: None,
                received_seq: None,
                current_epoch: None,
                final_offset: None,
                retry_after_ms: None,
                attempts: 1,
                argument: None,
                retryable: e.is_retryable(),
            },
            field: e.field().map(str::to_string),
            index: e.index().map(|i| i as u64),
            offset: e.offset().map(str::to_string),
        }
    }
}

impl DurastreamError {
    /// The variant for a core error kind.
    fn with_kind(kind: ErrorKind, info: ErrorInfo) -> Self {
        use DurastreamError as E;
        match kind {
            ErrorKind::NotFound => E::NotFound { info },
            ErrorKind::Gone => E::Gone { info },
            ErrorKind::Conflict => E::Conflict { info },
            ErrorKind::StreamClosed => E::StreamClosed { info },
            ErrorKind::SequenceConflict => E::SequenceConflict { info },
            ErrorKind::SequenceGap => E::SequenceGap { info },
            ErrorKind::StaleEpoch => E::StaleEpoch { info },
            ErrorKind::BadRequest => E::BadRequest { info },
            ErrorKind::InvalidOffset => E::InvalidOffset { info },
            ErrorKind::Unauthorized => E::Unauthorized { info },
            ErrorKind::RetryExhausted => E::RetryExhausted { info },
            ErrorKind::Parse => E::Parse { info },
            ErrorKind::Network => E::Network { info },
            ErrorKind::Timeout => E::Timeout { info },
            ErrorKind::InvalidArgument => E::InvalidArgument { info },
            ErrorKind::BufferFull => E::BufferFull { info },
            ErrorKind::ProducerClosed => E::ProducerClosed { info },
            // UnexpectedStatus, and any kind a newer core adds.
            _ => E::UnexpectedStatus { info },
        }
    }
}

/// Shorthand for results crossing the boundary.
pub type Result<T, E = DurastreamError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn variant_name(e: &DurastreamError) -> String {
        format!("{e:?}").split_whitespace().next().unwrap_or_default().to_string()
    }

    #[test]
    fn every_kind_maps_to_its_own_variant_with_its_code() {
        let kinds = [
            (ErrorKind::NotFound, "NotFound", "NOT_FOUND"),
            (ErrorKind::Gone, "Gone", "GONE"),
            (ErrorKind::Conflict, "Conflict", "CONFLICT"),
            (ErrorKind::StreamClosed, "StreamClosed", "STREAM_CLOSED"),
            (ErrorKind::SequenceConflict, "SequenceConflict", "SEQUENCE_CONFLICT"),
            (ErrorKind::SequenceGap, "SequenceGap", "SEQUENCE_GAP"),
            (ErrorKind::StaleEpoch, "StaleEpoch", "STALE_EPOCH"),
            (ErrorKind::BadRequest, "BadRequest", "BAD_REQUEST"),
            (ErrorKind::InvalidOffset, "InvalidOffset", "INVALID_OFFSET"),
            (ErrorKind::Unauthorized, "Unauthorized", "UNAUTHORIZED"),
            (ErrorKind::UnexpectedStatus, "UnexpectedStatus", "UNEXPECTED_STATUS"),
            (ErrorKind::RetryExhausted, "RetryExhausted", "RETRY_EXHAUSTED"),
            (ErrorKind::Parse, "Parse", "PARSE_ERROR"),
            (ErrorKind::Network, "Network", "NETWORK_ERROR"),
            (ErrorKind::Timeout, "Timeout", "TIMEOUT"),
            (ErrorKind::InvalidArgument, "InvalidArgument", "INVALID_ARGUMENT"),
            (ErrorKind::BufferFull, "BufferFull", "BUFFER_FULL"),
            (ErrorKind::ProducerClosed, "ProducerClosed", "PRODUCER_CLOSED"),
        ];
        for (kind, variant, code) in kinds {
            // The core exposes no constructor for an error of a chosen kind, so the facts are
            // taken from a real one and the kind is varied; `kind.code()` is what `From`
            // stores as the code.
            let mut info = info_of(&Error::invalid_argument("x", "boom"));
            info.code = kind.code().to_string();
            let e = DurastreamError::with_kind(kind, info);
            assert_eq!(variant_name(&e), variant, "{kind:?}");
            assert_eq!(e.info().code, code, "{kind:?}");
            assert_eq!(e.to_string(), "boom");
        }
    }

    #[test]
    fn invalid_argument_keeps_the_argument_name() {
        let e = DurastreamError::from(Error::invalid_argument("maxRetries", "bad maxRetries"));
        let info = e.info();
        assert!(matches!(e, DurastreamError::InvalidArgument { .. }));
        assert_eq!(info.argument.as_deref(), Some("maxRetries"));
        assert_eq!(info.message, "bad maxRetries");
        assert_eq!(info.status, None);
        assert_eq!(info.attempts, 1);
        assert!(!info.retryable);
    }

    fn info_of(e: &Error) -> ErrorInfo {
        DurastreamError::from(e.clone()).info().clone()
    }

    #[test]
    #[cfg(feature = "server")]
    fn http_errors_carry_status_url_and_path() {
        // A real 404 from the in-process server, through the core client.
        let server = crate::server::TestServer::start(crate::server::TestServerOptions::default())
            .expect("server starts");
        let url = server.stream_url("missing".into());
        let e = crate::runtime::get()
            .block_on(async {
                let client = durastream::client::Client::new();
                client.stream(&url)?.head().await
            })
            .expect_err("missing stream");
        let e = DurastreamError::from(e);
        assert!(matches!(e, DurastreamError::NotFound { .. }), "{e:?}");
        let info = e.info();
        assert_eq!(info.code, "NOT_FOUND");
        assert_eq!(info.status, Some(404));
        assert_eq!(info.url.as_deref(), Some(url.as_str()));
        assert_eq!(info.stream_path.as_deref(), Some("/v1/stream/missing"));
        assert!(!info.retryable);
        server.shutdown_blocking();
    }

    #[test]
    fn state_errors_keep_code_field_and_index() {
        let mut s = durastream::state::MaterializedState::new();
        let e = s
            .apply_batch_json(
                br#"[{"type":"t","key":"k","headers":{"operation":"x"}}]"#,
                durastream::state::MalformedPolicy::Stop,
            )
            .expect_err("malformed");
        match DurastreamError::from(e) {
            DurastreamError::State { info, field, index, .. } => {
                assert_eq!(info.code, "MALFORMED_EVENT");
                assert_eq!(field.as_deref(), Some("headers.operation"));
                assert_eq!(index, Some(0));
            }
            other => panic!("not a State error: {other:?}"),
        }
    }
}
