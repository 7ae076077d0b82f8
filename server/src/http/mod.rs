//! The HTTP front end: routing, body limits, common headers.

pub mod body;
pub mod faults;
pub mod park;
pub(crate) mod read;
pub mod response;
pub mod sendfile;
mod sse;
mod write;

/// Request parsing that needs no I/O, exposed for the fuzz targets in `fuzz/`.
#[doc(hidden)]
pub mod parse {
    pub use super::read::{live_cursor, parse_query, Live, ReadQuery};
    pub use super::write::{parse_create, parse_producer};
    pub use super::{fork_source_path, validate_path};
}

use std::borrow::Cow;
use std::io;
use std::sync::Arc;

use http::{HeaderMap, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::sync::watch;

use crate::auth::Auth;
use crate::config::Config;
use crate::store::{Backend, StoreError};
use crate::subscriptions::{routes as subscription_routes, Service};
use response::{error, Body, Reply};
pub use sse::SharedEvents;

/// Longest stream path accepted, in bytes.
pub const MAX_PATH: usize = 2048;

/// Shared state of every request.
pub struct App {
    pub store: Backend,
    /// None with a shared database (subscription state lives in one process for now).
    pub subscriptions: Option<Service>,
    pub config: Config,
    pub faults: Option<faults::Faults>,
    /// Token checks, when authentication is on.
    pub auth: Option<Auth>,
    /// Turns true when the server shuts down; live reads end.
    pub shutdown: watch::Receiver<bool>,
    /// Request-body bytes held across all requests (`--max-inflight-body-bytes`).
    pub budget: body::BodyBudget,
    /// State Protocol compaction, with `--state-compaction`.
    pub compactor: Option<Arc<crate::compact::Compactor>>,
    /// Data events shared by SSE readers.
    pub sse_events: Arc<sse::SharedEvents>,
}

impl App {
    /// Checks a request path and returns the stream key, or the error response.
    pub(crate) fn stream_key(&self, raw: &str) -> Result<String, Reply> {
        self.stream_key_ref(raw).map(Cow::into_owned)
    }

    /// [`App::stream_key`] borrowing the request's path when it needs no decoding (the
    /// usual case, and no allocation then).
    fn stream_key_ref<'a>(&self, raw: &'a str) -> Result<Cow<'a, str>, Reply> {
        let prefix = self.config.prefix_path();
        let under_prefix =
            raw.strip_prefix(prefix).is_some_and(|r| r.starts_with('/') && r.len() > 1);
        if !under_prefix {
            return Err(error(StatusCode::NOT_FOUND, format!("streams live under {prefix}/")));
        }
        let key = decode_path(raw).map_err(|e| response::store_error(&e))?;
        // `%5F%5Fds/x` decodes into the reserved namespace the router only sees encoded.
        if subscription_routes::reserved(prefix, &key).is_some() {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("{prefix}/__ds is reserved for the server; streams cannot live under it"),
            ));
        }
        Ok(key)
    }

    /// Resolves a `Stream-Forked-From` value (a path, or a full URL on this server).
    pub fn fork_source_path(&self, value: &str) -> Result<String, StoreError> {
        fork_source_path(self.config.prefix_path(), value)
    }

    /// The absolute URL of the stream `path` (decoded): on `--public-url` when set, else on
    /// the request's `Host` when it is a plain host name or address, else on the bound
    /// address; the path percent-encoded.
    pub fn absolute_url(&self, headers: &HeaderMap, path: &str) -> String {
        let origin = match &self.config.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => {
                let host =
                    safe_host(headers).map_or_else(|| self.config.bind.to_string(), str::to_string);
                format!("http://{host}")
            }
        };
        format!("{origin}{}", encode_path(path))
    }
}

/// A decoded stream path percent-encoded for a URL.
pub fn encode_path(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, PATH_ENCODE).to_string()
}

/// Bytes percent-encoded in a URL path we build (besides controls and non-ASCII).
const PATH_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The request's `Host` when it is safe to put in a URL: a host name, IPv4 address or
/// bracketed IPv6 address, with an optional port; nothing that could add a path, user
/// or another URL part.
pub fn safe_host(headers: &HeaderMap) -> Option<&str> {
    let host = headers.get("host")?.to_str().ok()?;
    let ok = !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        && !host.starts_with(['.', '-', ':']);
    ok.then_some(host)
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
    decode_path(raw).map(Cow::into_owned)
}

/// [`validate_path`], borrowing `raw` when it has no percent escapes.
fn decode_path(raw: &str) -> Result<Cow<'_, str>, StoreError> {
    if raw.len() > MAX_PATH {
        return Err(StoreError::bad(format!("stream path is longer than {MAX_PATH} bytes")));
    }
    let decoded = if raw.as_bytes().contains(&b'%') {
        percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| StoreError::bad("stream path is not valid UTF-8"))?
    } else {
        Cow::Borrowed(raw)
    };
    // One pass over the bytes: NUL anywhere, or a segment that is `.` or `..`.
    let mut seg_len = 0usize;
    let mut seg_dots = true;
    for &b in decoded.as_bytes().iter().chain(std::iter::once(&b'/')) {
        match b {
            0 => return Err(StoreError::bad("stream path contains NUL")),
            b'/' => {
                if seg_dots && (seg_len == 1 || seg_len == 2) {
                    return Err(StoreError::bad("stream path segments . and .. are not allowed"));
                }
                (seg_len, seg_dots) = (0, true);
            }
            _ => {
                seg_len += 1;
                seg_dots &= b == b'.';
            }
        }
    }
    Ok(decoded)
}

/// Reads a request body within the configured bounds; it holds its share of the in-flight
/// budget until dropped.
async fn read_body(
    app: &App,
    body: Incoming,
    headers: &HeaderMap,
) -> Result<body::ReadBody, Reply> {
    let limits = body::Limits {
        max_bytes: app.config.max_body_bytes,
        timeout: app.config.body_read_timeout,
        budget: &app.budget,
    };
    body::read(body, headers, limits).await
}

/// Handles one request. An `Err` closes the connection without an answer.
pub async fn handle(app: Arc<App>, req: Request<Incoming>) -> io::Result<Response<Body>> {
    let method = req.method().clone();
    let expose = method == Method::GET || req.headers().contains_key(http::header::ORIGIN);
    let cors = app.config.cors_origins.decide(req.headers());
    let finish = |reply: Reply| {
        let mut r = reply.build();
        response::add_common(r.headers_mut(), expose, &cors);
        r
    };
    if let Some(auth) = &app.auth {
        // Boxed: token checks may fetch keys, a large future no other request should carry.
        if let Err(denied) = Box::pin(auth.check(&app, &req)).await {
            return Ok(finish(denied));
        }
    }
    let mut fault = None;
    if let Some(f) = &app.faults {
        let path = req.uri().path().to_string();
        if path == faults::PATH {
            let (parts, body) = req.into_parts();
            let reply = match Box::pin(read_body(&app, body, &parts.headers)).await {
                Ok(b) => f.control(&method, &b.bytes),
                Err(r) => r,
            };
            return Ok(finish(reply));
        }
        match Box::pin(f.before(&method, &path)).await {
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
        Some(f) => Box::pin(faults::mutate(&f, &method, reply)).await,
        None => reply,
    };
    Ok(finish(reply))
}

/// Routes a request. Only the append branch is awaited in place: every other branch is
/// boxed, because a future is as large as its largest branch and hyper moves the request
/// future by value (read and control futures of kilobytes made each append copy them).
async fn route(app: &App, req: Request<Incoming>) -> Reply {
    if req.method() == Method::OPTIONS {
        return response::preflight(req.headers().get("access-control-request-headers"));
    }
    // The reserved `__ds` control prefix comes before stream operations.
    if subscription_routes::reserved(app.config.prefix_path(), req.uri().path()).is_some() {
        return Box::pin(control(app, req)).await;
    }
    let (parts, body) = req.into_parts();
    let key = match app.stream_key_ref(parts.uri.path()) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let headers = &parts.headers;
    match parts.method {
        Method::POST => match read_body(app, body, headers).await {
            Ok(b) => {
                // The store gets the only reference, so it can free the body once framed.
                let (bytes, _share) = b.into_parts();
                write::append(app, &key, headers, bytes).await
            }
            Err(r) => r,
        },
        Method::GET => {
            let query = parts.uri.query();
            Box::pin(read::get(app, &key, query, headers, parts.version)).await
        }
        Method::HEAD => Box::pin(read::head(app, &key)).await,
        Method::PUT => {
            Box::pin(async {
                match read_body(app, body, headers).await {
                    Ok(b) => {
                        let (bytes, _share) = b.into_parts();
                        write::create(app, &key, headers, bytes).await
                    }
                    Err(r) => r,
                }
            })
            .await
        }
        Method::DELETE => Box::pin(write::delete(app, &key)).await,
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            .header("allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS"),
    }
}

/// Requests under the reserved `{prefix}/__ds` control prefix.
async fn control(app: &App, req: Request<Incoming>) -> Reply {
    let Some(rest) = subscription_routes::reserved(app.config.prefix_path(), req.uri().path())
    else {
        return error(StatusCode::NOT_FOUND, "not found");
    };
    let rest = rest.to_string();
    let (method, query) = (req.method(), req.uri().query());
    if let Some(r) = crate::compact::routes::handle(app, method, &req, &rest, query).await {
        return r;
    }
    let (parts, body) = req.into_parts();
    let body = match read_body(app, body, &parts.headers).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (method, query) = (&parts.method, parts.uri.query());
    subscription_routes::handle(app, method, &parts.headers, &rest, query, body.bytes).await
}
