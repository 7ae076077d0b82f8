//! The client's one public error type.
//!
//! [`Error`] is cheap to clone (the producer hands the same failure to its callback and to
//! every waiter). Its [`ErrorKind`] says what the caller should do; the facts (HTTP status,
//! stream URL, producer sequence numbers, epoch, final offset) are fields, never text to
//! parse. Bindings map `ErrorKind` once, in their own `error.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What went wrong, at the level a caller acts on. New kinds may be added in a minor
/// release; match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The stream does not exist (404). Create it, or stop using it.
    NotFound,
    /// The stream was deleted while forks still use it, or the requested offset is older
    /// than what the server retains (410). Start again from `-1` or `now`.
    Gone,
    /// The stream exists with a different configuration, or the content type does not
    /// match (409). Fix the request.
    Conflict,
    /// The stream is closed: no more appends (409 with `Stream-Closed`). See
    /// [`Error::final_offset`]. Not retryable.
    StreamClosed,
    /// A `Stream-Seq` value was not greater than the last one (409). The append was not
    /// applied; when [`Error::attempts`] is above 1 an earlier attempt may have been.
    SequenceConflict,
    /// The server expected another producer sequence number (409). See
    /// [`Error::expected_seq`] and [`Error::received_seq`]. The producer is fenced until
    /// `restart()`.
    SequenceGap,
    /// A newer producer epoch exists (403): this producer is a zombie. See
    /// [`Error::current_epoch`]; restart with a higher epoch or enable auto-claim.
    StaleEpoch,
    /// The server refused the request as malformed (400, 413, and other 4xx). Fix the input.
    BadRequest,
    /// The server refused the read offset (400 on a read). Use `-1`, `now` or an offset the
    /// server returned.
    InvalidOffset,
    /// Authentication or authorization failed (401, or 403 outside the producer protocol).
    /// Refresh credentials.
    Unauthorized,
    /// Any other HTTP status that is not retried (for example 405, 501, or a 5xx after a
    /// plain append that could not be retried safely).
    UnexpectedStatus,
    /// A transient failure persisted through every retry. [`Error::status`] holds the last
    /// status when there was one. Retrying later may succeed.
    RetryExhausted,
    /// A response could not be parsed: malformed JSON body, malformed SSE control event,
    /// bad base64, or a missing protocol header.
    Parse,
    /// The connection failed (refused, reset, dropped mid-body, DNS). Retryable.
    Network,
    /// A request or a caller-imposed deadline timed out. Retryable.
    Timeout,
    /// An argument was invalid before anything was sent. See [`Error::argument`].
    InvalidArgument,
    /// The producer holds more unacknowledged data than `max_buffered_bytes`. Wait for
    /// `flush()` or use the awaiting append.
    BufferFull,
    /// The producer was closed or detached and accepts no more data.
    ProducerClosed,
}

impl ErrorKind {
    /// A stable upper-case code for this kind (`NOT_FOUND`, `STREAM_CLOSED`, ...), the same
    /// in every binding.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::Gone => "GONE",
            ErrorKind::Conflict => "CONFLICT",
            ErrorKind::StreamClosed => "STREAM_CLOSED",
            ErrorKind::SequenceConflict => "SEQUENCE_CONFLICT",
            ErrorKind::SequenceGap => "SEQUENCE_GAP",
            ErrorKind::StaleEpoch => "STALE_EPOCH",
            ErrorKind::BadRequest => "BAD_REQUEST",
            ErrorKind::InvalidOffset => "INVALID_OFFSET",
            ErrorKind::Unauthorized => "UNAUTHORIZED",
            ErrorKind::UnexpectedStatus => "UNEXPECTED_STATUS",
            ErrorKind::RetryExhausted => "RETRY_EXHAUSTED",
            ErrorKind::Parse => "PARSE_ERROR",
            ErrorKind::Network => "NETWORK_ERROR",
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
            ErrorKind::BufferFull => "BUFFER_FULL",
            ErrorKind::ProducerClosed => "PRODUCER_CLOSED",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An error from the Durable Streams client.
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    kind: Option<ErrorKind>,
    message: String,
    status: Option<u16>,
    url: Option<String>,
    expected_seq: Option<u64>,
    received_seq: Option<u64>,
    current_epoch: Option<u64>,
    final_offset: Option<String>,
    retry_after: Option<Duration>,
    attempts: u32,
    argument: Option<&'static str>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// Builder used inside the crate to attach facts to an error.
pub(crate) struct ErrorBuilder {
    inner: Inner,
}

impl ErrorBuilder {
    pub(crate) fn status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }
    pub(crate) fn url(mut self, url: impl Into<String>) -> Self {
        self.inner.url = Some(url.into());
        self
    }
    pub(crate) fn seqs(mut self, expected: Option<u64>, received: Option<u64>) -> Self {
        self.inner.expected_seq = expected;
        self.inner.received_seq = received;
        self
    }
    pub(crate) fn epoch(mut self, epoch: Option<u64>) -> Self {
        self.inner.current_epoch = epoch;
        self
    }
    pub(crate) fn final_offset(mut self, offset: Option<String>) -> Self {
        self.inner.final_offset = offset;
        self
    }
    pub(crate) fn retry_after(mut self, d: Option<Duration>) -> Self {
        self.inner.retry_after = d;
        self
    }
    pub(crate) fn attempts(mut self, n: u32) -> Self {
        self.inner.attempts = n;
        self
    }
    pub(crate) fn argument(mut self, name: &'static str) -> Self {
        self.inner.argument = Some(name);
        self
    }
    pub(crate) fn source(mut self, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(e));
        self
    }
    pub(crate) fn build(self) -> Error {
        Error { inner: Arc::new(self.inner) }
    }
}

impl Error {
    pub(crate) fn builder(kind: ErrorKind, message: impl Into<String>) -> ErrorBuilder {
        ErrorBuilder {
            inner: Inner {
                kind: Some(kind),
                message: message.into(),
                attempts: 1,
                ..Default::default()
            },
        }
    }

    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Self::builder(kind, message).build()
    }

    /// An [`ErrorKind::InvalidArgument`] error naming the argument (camelCase option name,
    /// the spelling shared by every binding).
    pub fn invalid_argument(argument: &'static str, message: impl Into<String>) -> Error {
        Self::builder(ErrorKind::InvalidArgument, message).argument(argument).build()
    }

    /// The same error with another attempt count.
    pub(crate) fn with_attempts(self, attempts: u32) -> Error {
        let mut inner = Inner {
            kind: self.inner.kind,
            message: self.inner.message.clone(),
            status: self.inner.status,
            url: self.inner.url.clone(),
            expected_seq: self.inner.expected_seq,
            received_seq: self.inner.received_seq,
            current_epoch: self.inner.current_epoch,
            final_offset: self.inner.final_offset.clone(),
            retry_after: self.inner.retry_after,
            attempts,
            argument: self.inner.argument,
            source: None,
        };
        if let Some(src) = &self.inner.source {
            inner.source = Some(Box::new(Message(src.to_string())));
        }
        Error { inner: Arc::new(inner) }
    }

    /// What went wrong, as a small enum to act on.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind.unwrap_or(ErrorKind::UnexpectedStatus)
    }

    /// The stable code of [`Error::kind`].
    pub fn code(&self) -> &'static str {
        self.kind().code()
    }

    /// A human-readable description (also the `Display` form).
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The HTTP status that caused the error, when there was a response.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// The full URL of the stream the request went to.
    pub fn url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    /// The path component of [`Error::url`].
    pub fn stream_path(&self) -> Option<&str> {
        let url = self.inner.url.as_deref()?;
        let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
        let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
        Some(path.split(['?', '#']).next().unwrap_or(path))
    }

    /// On [`ErrorKind::SequenceGap`]: the producer sequence number the server expected.
    pub fn expected_seq(&self) -> Option<u64> {
        self.inner.expected_seq
    }

    /// On [`ErrorKind::SequenceGap`]: the producer sequence number the server received.
    pub fn received_seq(&self) -> Option<u64> {
        self.inner.received_seq
    }

    /// On [`ErrorKind::StaleEpoch`]: the server's current producer epoch.
    pub fn current_epoch(&self) -> Option<u64> {
        self.inner.current_epoch
    }

    /// On [`ErrorKind::StreamClosed`]: the stream's final offset, when the server sent it.
    pub fn final_offset(&self) -> Option<&str> {
        self.inner.final_offset.as_deref()
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// How many attempts were made before giving up (1 when the request was not retried).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// On [`ErrorKind::InvalidArgument`]: the option or argument at fault (camelCase).
    pub fn argument(&self) -> Option<&'static str> {
        self.inner.argument
    }

    /// True when trying the same thing again later may succeed: network failures,
    /// timeouts, exhausted retries, a full producer buffer, 429 and retryable 5xx.
    pub fn is_retryable(&self) -> bool {
        match self.kind() {
            ErrorKind::Network
            | ErrorKind::Timeout
            | ErrorKind::RetryExhausted
            | ErrorKind::BufferFull => true,
            ErrorKind::UnexpectedStatus => {
                self.inner.status.is_some_and(super::retry::is_transient_status)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind()).field("message", &self.inner.message);
        if let Some(s) = self.inner.status {
            d.field("status", &s);
        }
        if let Some(u) = &self.inner.url {
            d.field("url", u);
        }
        if self.inner.attempts > 1 {
            d.field("attempts", &self.inner.attempts);
        }
        d.finish_non_exhaustive()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

/// Shorthand for results of client operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_and_path() {
        let e = Error::builder(ErrorKind::NotFound, "Stream not found: http://h:1/a/b?x=1")
            .status(404)
            .url("http://h:1/a/b?x=1")
            .build();
        assert_eq!(e.code(), "NOT_FOUND");
        assert_eq!(e.status(), Some(404));
        assert_eq!(e.stream_path(), Some("/a/b"));
        assert!(!e.is_retryable());
        let e2 = e.clone().with_attempts(3);
        assert_eq!(e2.attempts(), 3);
        assert_eq!(e2.stream_path(), Some("/a/b"));
        assert!(Error::new(ErrorKind::Network, "x").is_retryable());
        let e = Error::invalid_argument("maxRetries", "maxRetries must be >= 0");
        assert_eq!(e.argument(), Some("maxRetries"));
    }
}
