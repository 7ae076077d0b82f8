//! Response building: bodies, common headers, and the one mapping of store errors to HTTP.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};

use crate::auth::cors::Cors;
use crate::store::StoreError;
use crate::subscriptions::SubError;
use durastream::headers as h;
use durastream::offset::MAX_POSITION;
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

    /// Sets `Stream-Next-Offset` (written without `fmt`: every write and read carries it).
    pub fn offset(mut self, o: u64) -> Reply {
        const NAME: HeaderName = HeaderName::from_static(h::STREAM_NEXT_OFFSET);
        let value = if o <= MAX_POSITION {
            HeaderValue::from_bytes(&Offset(o).to_token())
        } else {
            HeaderValue::from_str(&Offset(o).to_string())
        };
        if let Ok(v) = value {
            self.headers.insert(NAME, v);
        }
        self
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
        StoreError::Gone | StoreError::Trimmed { .. } => error(StatusCode::GONE, msg),
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
        // Writes stop until a restart (which a supervisor does); reads keep working.
        StoreError::Unavailable => {
            error(StatusCode::SERVICE_UNAVAILABLE, msg).header("retry-after", "5")
        }
        StoreError::Busy(_) => {
            error(StatusCode::SERVICE_UNAVAILABLE, msg).header("retry-after", "1")
        }
        StoreError::Io(_) => {
            tracing::error!("{msg}");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal storage error")
        }
    }
}

/// Maps a subscription error to its JSON response (the only place this is decided).
pub fn subscription_error(e: &SubError) -> Reply {
    let status = match e {
        SubError::Invalid(_) | SubError::WebhookUrlRejected(_) | SubError::WebhooksDisabled => {
            StatusCode::BAD_REQUEST
        }
        SubError::NotFound => StatusCode::NOT_FOUND,
        SubError::TokenInvalid(_) | SubError::TokenExpired => StatusCode::UNAUTHORIZED,
        SubError::AlreadyExists
        | SubError::Fenced
        | SubError::AlreadyClaimed { .. }
        | SubError::NoPendingWork
        | SubError::InvalidOffset(_)
        | SubError::LimitExceeded { .. } => StatusCode::CONFLICT,
        SubError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        SubError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let msg = match e {
        SubError::Io(_) => {
            tracing::error!("{e}");
            "internal storage error".to_string()
        }
        _ => e.to_string(),
    };
    let body = crate::subscriptions::routes::error_body(e, &msg).to_string();
    let r = Reply::new(status).header("content-type", "application/json").body(full(body));
    if status == StatusCode::UNAUTHORIZED {
        r.header("www-authenticate", "Bearer")
    } else {
        r
    }
}

/// Headers every response carries: CORS and browser security headers.
///
/// The list of readable headers (`Access-Control-Expose-Headers`) goes on every `GET`
/// response, which caches may share with browsers, and on any response to a browser
/// request (one with `Origin`); other clients do not need it on writes. An origin that
/// `--cors-origins` does not list gets no CORS headers at all, not even the preflight's.
pub fn add_common(headers: &mut http::HeaderMap, expose: bool, cors: &Cors) {
    static EXPOSE: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();
    cors.add_vary(headers);
    match cors.allow_origin() {
        Some(origin) => {
            headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            if expose {
                let list = EXPOSE.get_or_init(|| {
                    let mut v: Vec<&str> = h::ALL_PROTOCOL.to_vec();
                    v.extend([
                        "etag",
                        "location",
                        "content-type",
                        "retry-after",
                        "www-authenticate",
                    ]);
                    HeaderValue::from_str(&v.join(", "))
                        .expect("header names are valid header text")
                });
                headers.insert(http::header::ACCESS_CONTROL_EXPOSE_HEADERS, list.clone());
            }
        }
        None => {
            for name in [
                http::header::ACCESS_CONTROL_ALLOW_METHODS,
                http::header::ACCESS_CONTROL_ALLOW_HEADERS,
                http::header::ACCESS_CONTROL_MAX_AGE,
            ] {
                headers.remove(name);
            }
        }
    }
    headers.insert(http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    const CORP: HeaderName = HeaderName::from_static("cross-origin-resource-policy");
    headers.insert(CORP, HeaderValue::from_static("cross-origin"));
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
