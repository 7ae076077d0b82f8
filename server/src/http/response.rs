//! Response building: bodies, common headers, and the one mapping of store errors to HTTP.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};

use crate::store::StoreError;
use durastream::headers as h;
use durastream::Offset;

/// Response body of every handler.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|e: Infallible| match e {}).boxed_unsync()
}

pub fn empty() -> Body {
    Empty::new().map_err(|e: Infallible| match e {}).boxed_unsync()
}

/// A response under construction.
pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Body,
}

impl Reply {
    pub fn new(status: StatusCode) -> Reply {
        Reply { status, headers: http::HeaderMap::new(), body: empty() }
    }

    /// Sets a header; values that are not valid header text are skipped.
    pub fn header(mut self, name: &'static str, value: impl AsRef<str>) -> Reply {
        if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
            self.headers.insert(HeaderName::from_static(name), v);
        }
        self
    }

    pub fn offset(self, o: u64) -> Reply {
        self.header(h::STREAM_NEXT_OFFSET, Offset(o).to_string())
    }

    pub fn flag(self, name: &'static str, on: bool) -> Reply {
        if on {
            self.header(name, "true")
        } else {
            self
        }
    }

    pub fn body(mut self, body: Body) -> Reply {
        self.body = body;
        self
    }

    pub fn text(self, msg: impl Into<String>) -> Reply {
        self.header("content-type", "text/plain; charset=utf-8").body(full(msg.into()))
    }

    pub fn build(self) -> Response<Body> {
        let mut r = Response::new(self.body);
        *r.status_mut() = self.status;
        *r.headers_mut() = self.headers;
        r
    }
}

/// A plain-text error response.
pub fn error(status: StatusCode, msg: impl Into<String>) -> Reply {
    Reply::new(status).text(msg)
}

/// Maps a store error to its response (the only place this is decided).
pub fn store_error(e: &StoreError) -> Reply {
    let msg = e.to_string();
    match e {
        StoreError::NotFound => error(StatusCode::NOT_FOUND, msg),
        StoreError::Gone => error(StatusCode::GONE, msg),
        StoreError::BadRequest(_) => error(StatusCode::BAD_REQUEST, msg),
        StoreError::Conflict(_) => error(StatusCode::CONFLICT, msg),
        StoreError::Closed { tail } => {
            error(StatusCode::CONFLICT, msg).flag(h::STREAM_CLOSED, true).offset(*tail)
        }
        StoreError::StaleEpoch { current } => {
            error(StatusCode::FORBIDDEN, msg).header(h::PRODUCER_EPOCH, current.to_string())
        }
        StoreError::SequenceGap { expected, received } => error(StatusCode::CONFLICT, msg)
            .header(h::PRODUCER_EXPECTED_SEQ, expected.to_string())
            .header(h::PRODUCER_RECEIVED_SEQ, received.to_string()),
        StoreError::Unavailable => error(StatusCode::SERVICE_UNAVAILABLE, msg),
        StoreError::Io(_) => {
            tracing::error!("{msg}");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal storage error")
        }
    }
}

/// Headers every response carries: CORS and browser security headers.
pub fn add_common(headers: &mut http::HeaderMap) {
    let set = |headers: &mut http::HeaderMap, k: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            headers.insert(HeaderName::from_static(k), v);
        }
    };
    set(headers, "access-control-allow-origin", "*");
    set(headers, "access-control-expose-headers", &expose_list());
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "cross-origin-resource-policy", "cross-origin");
}

fn expose_list() -> String {
    let mut v: Vec<&str> = h::ALL_PROTOCOL.to_vec();
    v.extend(["etag", "location", "content-type", "retry-after"]);
    v.join(", ")
}

/// The CORS preflight answer.
pub fn preflight(requested: Option<&HeaderValue>) -> Reply {
    let mut allow: Vec<&str> = h::ALL_PROTOCOL.to_vec();
    allow.extend([
        "content-type",
        "authorization",
        "if-none-match",
        "cache-control",
        "last-event-id",
    ]);
    let mut allow = allow.join(", ");
    if let Some(extra) = requested.and_then(|v| v.to_str().ok()) {
        allow.push_str(", ");
        allow.push_str(extra);
    }
    Reply::new(StatusCode::NO_CONTENT)
        .header("access-control-allow-methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS")
        .header("access-control-allow-headers", allow)
        .header("access-control-max-age", "86400")
}
