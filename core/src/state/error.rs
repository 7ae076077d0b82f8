//! The State Protocol's one public error type.
//!
//! Same shape as the client's error ([`crate::client`] with the `client` feature): a small
//! [`ErrorKind`] whose doc says what the caller should do, and facts as fields (the field
//! at fault in a malformed event, the event's position, the stream offset, the client
//! error underneath). Bindings map it once, in their own `error.rs`.

use std::fmt;
use std::sync::Arc;

/// What went wrong, at the level a caller acts on. New kinds may be added in a minor
/// release; match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An event does not follow the State Protocol. [`Error::field`] names the field at
    /// fault (`type`, `headers.operation`, ...). Fix the producer of the stream; a follower
    /// skips such events or stops, as its [`MalformedPolicy`](super::MalformedPolicy) says.
    Malformed,
    /// A stored value does not decode into the requested Rust type. Ask for another type.
    Decode,
    /// A value could not be encoded as JSON, or an argument is invalid (see
    /// [`Error::field`]). Fix the input.
    InvalidArgument,
    /// A saved checkpoint could not be read (not JSON, unknown version, bad shape). Start
    /// from the beginning of the stream instead.
    Checkpoint,
    /// Reading or writing the stream failed. [`Error::client_error`] holds the client
    /// error, whose own kind says whether to retry.
    Stream,
    /// The follower stopped earlier on a malformed event (policy `Stop`) or the stream
    /// ended. Resume from a checkpoint to go on.
    Stopped,
}

impl ErrorKind {
    /// A stable upper-case code for this kind, the same in every binding.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "MALFORMED_EVENT",
            ErrorKind::Decode => "DECODE_ERROR",
            ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
            ErrorKind::Checkpoint => "BAD_CHECKPOINT",
            ErrorKind::Stream => "STREAM_ERROR",
            ErrorKind::Stopped => "STOPPED",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An error from the State Protocol layer. Cheap to clone.
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    field: Option<String>,
    index: Option<usize>,
    offset: Option<String>,
    #[cfg(feature = "client")]
    client: Option<crate::client::Error>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            inner: Arc::new(Inner {
                kind,
                message: message.into(),
                field: None,
                index: None,
                offset: None,
                #[cfg(feature = "client")]
                client: None,
                source: None,
            }),
        }
    }

    /// A [`ErrorKind::Malformed`] error naming the field at fault (a dotted path such as
    /// `headers.operation`; empty for the event as a whole).
    pub fn malformed(field: impl Into<String>, message: impl Into<String>) -> Error {
        let mut e = Error::new(ErrorKind::Malformed, message);
        e.inner_mut().field = Some(field.into());
        e
    }

    /// An [`ErrorKind::InvalidArgument`] error naming the argument.
    pub fn invalid_argument(field: impl Into<String>, message: impl Into<String>) -> Error {
        let mut e = Error::new(ErrorKind::InvalidArgument, message);
        e.inner_mut().field = Some(field.into());
        e
    }

    pub(crate) fn with_source(mut self, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner_mut().source = Some(Box::new(e));
        self
    }

    /// The same error with the event's position in its batch and the stream offset of the
    /// batch attached.
    pub(crate) fn at(mut self, index: usize, offset: Option<&str>) -> Self {
        let inner = self.inner_mut();
        inner.index = Some(index);
        inner.offset = offset.map(str::to_string);
        self
    }

    #[cfg(feature = "client")]
    pub(crate) fn stream(e: crate::client::Error) -> Error {
        let mut out = Error::new(ErrorKind::Stream, e.message().to_string());
        out.inner_mut().client = Some(e);
        out
    }

    fn inner_mut(&mut self) -> &mut Inner {
        // Errors are built before they are shared; the fallback copy keeps this total.
        if Arc::get_mut(&mut self.inner).is_none() {
            self.inner = Arc::new(Inner {
                kind: self.inner.kind,
                message: self.inner.message.clone(),
                field: self.inner.field.clone(),
                index: self.inner.index,
                offset: self.inner.offset.clone(),
                #[cfg(feature = "client")]
                client: self.inner.client.clone(),
                source: None,
            });
        }
        Arc::get_mut(&mut self.inner).expect("the Arc was just made unique")
    }

    /// What went wrong, as a small enum to act on.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The stable code of [`Error::kind`].
    pub fn code(&self) -> &'static str {
        self.inner.kind.code()
    }

    /// A human-readable description (also the `Display` form).
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// On [`ErrorKind::Malformed`] and [`ErrorKind::InvalidArgument`]: the field at fault,
    /// as a dotted path (`type`, `key`, `value`, `headers.operation`, `headers.txid`,
    /// `headers.timestamp`, `headers.control`, `headers.offset`), or `""` when the event as
    /// a whole is wrong (not a JSON object).
    pub fn field(&self) -> Option<&str> {
        self.inner.field.as_deref()
    }

    /// For an event read from a stream: its position in the batch (0-based).
    pub fn index(&self) -> Option<usize> {
        self.inner.index
    }

    /// For an event read from a stream: the offset the batch holding it started at.
    pub fn offset(&self) -> Option<&str> {
        self.inner.offset.as_deref()
    }

    /// On [`ErrorKind::Stream`]: the client error (its kind says whether to retry).
    #[cfg(feature = "client")]
    pub fn client_error(&self) -> Option<&crate::client::Error> {
        self.inner.client.as_ref()
    }

    /// True when trying again later may succeed (a retryable stream error).
    pub fn is_retryable(&self) -> bool {
        #[cfg(feature = "client")]
        if let Some(c) = &self.inner.client {
            return c.is_retryable();
        }
        false
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
        d.field("kind", &self.inner.kind).field("message", &self.inner.message);
        if let Some(field) = &self.inner.field {
            d.field("field", field);
        }
        if let Some(i) = self.inner.index {
            d.field("index", &i);
        }
        if let Some(o) = &self.inner.offset {
            d.field("offset", o);
        }
        d.finish_non_exhaustive()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        #[cfg(feature = "client")]
        if let Some(c) = &self.inner.client {
            return Some(c);
        }
        self.inner.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(feature = "client")]
impl From<crate::client::Error> for Error {
    fn from(e: crate::client::Error) -> Self {
        Error::stream(e)
    }
}

/// Shorthand for results of State Protocol operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_fields() {
        let e = Error::malformed("headers.operation", "bad operation").at(3, Some("0_10"));
        assert_eq!(e.kind(), ErrorKind::Malformed);
        assert_eq!(e.code(), "MALFORMED_EVENT");
        assert_eq!(e.field(), Some("headers.operation"));
        assert_eq!(e.index(), Some(3));
        assert_eq!(e.offset(), Some("0_10"));
        assert!(!e.is_retryable());
        let shared = e.clone();
        let moved = shared.at(4, None);
        assert_eq!(moved.index(), Some(4));
        assert_eq!(e.index(), Some(3), "the original is untouched");
    }
}
