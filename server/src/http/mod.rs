//! The HTTP front end: routing, body limits, common headers.

pub mod faults;
mod read;
pub mod response;
mod sse;
mod write;

/// Request parsing that needs no I/O, exposed for the fuzz targets in `fuzz/`.
#[doc(hidden)]
pub mod parse {
    pub use super::read::{live_cursor, parse_query, Live, ReadQuery};
    pub use super::write::{parse_create, parse_producer};
    pub use super::{fork_source_path, validate_path};
}

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::sync::watch;

use crate::config::Config;
use crate::store::{Store, StoreError};
use crate::subscriptions::{routes as subscription_routes, Subscriptions};
use response::{error, Body, Reply};

/// Longest stream path accepted, in bytes.
pub const MAX_PATH: usize = 2048;

/// Shared state of every request.
pub struct App {
    pub store: Arc<Store>,
    pub subscriptions: Arc<Subscriptions>,
    pub config: Config,
    pub faults: Option<faults::Faults>,
    /// Turns true when the server shuts down; live reads end.
    pub shutdown: watch::Receiver<bool>,
}

impl App {
    /// Checks a request path and returns the stream key, or the error response.
    fn stream_key(&self, raw: &str) -> Result<String, Reply> {
        let prefix = self.config.prefix_path();
        let under_prefix =
            raw.strip_prefix(prefix).is_some_and(|r| r.starts_with('/') && r.len() > 1);
        if !under_prefix {
            return Err(error(StatusCode::NOT_FOUND, format!("streams live under {prefix}/")));
        }
        validate_path(raw).map_err(|e| response::store_error(&e))
    }

    /// The absolute URL of `path` as the client addressed this server.
    pub fn absolute_url(&self, headers: &HeaderMap, path: &str) -> String {
        let host = headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| self.config.bind.to_string(), str::to_string);
        format!("http://{host}{path}")
    }
}

/// Resolves a `Stream-Forked-From` value (a path, or a full URL) to a stream path under
/// `prefix`.
pub fn fork_source_path(prefix: &str, value: &str) -> Result<String, StoreError> {
    let path = match value.find("://") {
        Some(i) => {
            let after = &value[i + 3..];
            after.find('/').map_or("/", |j| &after[j..])
        }
        None => value,
    };
    let path = path.split('?').next().unwrap_or(path);
    if !path.starts_with(&format!("{prefix}/")) {
        return Err(StoreError::bad(format!(
            "Stream-Forked-From must be a stream path under {prefix}/"
        )));
    }
    validate_path(path)
}

/// Decodes and checks a stream path: no NUL, no `.` or `..` segments, bounded length.
pub fn validate_path(raw: &str) -> Result<String, StoreError> {
    if raw.len() > MAX_PATH {
        return Err(StoreError::bad(format!("stream path is longer than {MAX_PATH} bytes")));
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| StoreError::bad("stream path is not valid UTF-8"))?;
    if decoded.contains('\0') {
        return Err(StoreError::bad("stream path contains NUL"));
    }
    if decoded.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(StoreError::bad("stream path segments . and .. are not allowed"));
    }
    Ok(decoded.into_owned())
}

/// Reads a request body up to the configured limit.
async fn read_body(app: &App, body: Incoming, headers: &HeaderMap) -> Result<Bytes, Reply> {
    let limit = app.config.max_body_bytes;
    let too_large =
        || error(StatusCode::PAYLOAD_TOO_LARGE, format!("request body exceeds {limit} bytes"));
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(too_large())
        }
        Err(e) => Err(error(StatusCode::BAD_REQUEST, format!("cannot read request body: {e}"))),
    }
}

/// Handles one request. An `Err` closes the connection without an answer.
pub async fn handle(app: Arc<App>, req: Request<Incoming>) -> io::Result<Response<Body>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let expose = method == Method::GET || req.headers().contains_key(http::header::ORIGIN);
    let finish = |reply: Reply| {
        let mut r = reply.build();
        response::add_common(r.headers_mut(), expose);
        r
    };
    let mut fault = None;
    if let Some(f) = &app.faults {
        if path == faults::PATH {
            let (parts, body) = req.into_parts();
            let reply = match read_body(&app, body, &parts.headers).await {
                Ok(b) => f.control(&method, &b),
                Err(r) => r,
            };
            return Ok(finish(reply));
        }
        match f.before(&method, &path).await {
            Some(faults::Before::Drop) => {
                return Err(io::Error::other("injected dropped connection"))
            }
            Some(faults::Before::Answer(r)) => return Ok(finish(r)),
            Some(faults::Before::Mutate(m)) => fault = Some(m),
            None => {}
        }
    }
    let reply = route(&app, req).await;
    let reply = match fault {
        Some(f) => faults::mutate(&f, &method, reply).await,
        None => reply,
    };
    Ok(finish(reply))
}

async fn route(app: &App, req: Request<Incoming>) -> Reply {
    if req.method() == Method::OPTIONS {
        return response::preflight(req.headers().get("access-control-request-headers"));
    }
    // The reserved `__ds` control prefix comes before stream operations.
    if let Some(rest) = subscription_routes::reserved(app.config.prefix_path(), req.uri().path()) {
        let rest = rest.to_string();
        let (parts, body) = req.into_parts();
        let body = match read_body(app, body, &parts.headers).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        return subscription_routes::handle(app, &parts.method, &parts.headers, &rest, body).await;
    }
    let key = match app.stream_key(req.uri().path()) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let query = req.uri().query().map(str::to_string);
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    match parts.method {
        Method::GET => read::get(app, &key, query.as_deref(), headers).await,
        Method::HEAD => read::head(app, &key),
        Method::PUT => match read_body(app, body, headers).await {
            Ok(b) => write::create(app, &key, headers, b).await,
            Err(r) => r,
        },
        Method::POST => match read_body(app, body, headers).await {
            Ok(b) => write::append(app, &key, headers, b).await,
            Err(r) => r,
        },
        Method::DELETE => write::delete(app, &key).await,
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            .header("allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS"),
    }
}
