//! Observation of each request, wrapped around `http::handle`: one tracing span (method,
//! path, offsets, producer), request counts and latency, read bytes by live mode, and live
//! readers. Everything is read from the request and response heads, so the protocol code
//! needs no changes to be observed.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};
use metrics::{counter, histogram};
use tracing::{field, Instrument};

use super::{enabled, names, LiveReader};
use crate::http::response::Body;
use crate::http::{handle, App};
use durastream::headers as h;

/// What a request addresses, as a metrics label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A stream operation under the prefix.
    Stream,
    /// The reserved `{prefix}/__ds/` control endpoints.
    Control,
    /// The web console (`/_console`).
    Console,
    /// The test fault endpoint.
    Test,
    /// Anything else (answered 404).
    Other,
}

impl Route {
    /// Classifies `path` for `app`.
    pub fn of(app: &App, path: &str) -> Route {
        let prefix = app.config.prefix_path();
        if app.faults.is_some() && path == crate::http::faults::PATH {
            Route::Test
        } else if app.config.console && crate::console::is_console_path(path) {
            Route::Console
        } else if crate::subscriptions::routes::reserved(prefix, path).is_some() {
            Route::Control
        } else if path.strip_prefix(prefix).is_some_and(|r| r.starts_with('/') && r.len() > 1) {
            Route::Stream
        } else {
            Route::Other
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Stream => "stream",
            Route::Control => "control",
            Route::Console => "console",
            Route::Test => "test",
            Route::Other => "other",
        }
    }
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The raw value of query parameter `name`.
fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Serves one request through `http::handle` (or the console), observed.
pub async fn serve(app: Arc<App>, req: Request<Incoming>) -> io::Result<Response<Body>> {
    // Two clock reads per request, taken only when a span or the metrics will use them.
    let start = (enabled() || tracing::enabled!(tracing::Level::DEBUG)).then(Instant::now);
    let method = method_label(req.method());
    let route = Route::of(&app, req.uri().path());
    let query = req.uri().query();
    let live = match query_param(query, h::Q_LIVE) {
        Some("sse") => Some("sse"),
        Some("long-poll") => Some("long-poll"),
        _ => None,
    };
    // Debug level: a span costs a microsecond or two per request when enabled, so it is
    // off at the default `info` filter (DURASTREAM_LOG=info,durastream_server=debug).
    let span = tracing::debug_span!(
        "request",
        method,
        path = req.uri().path(),
        offset = query_param(query, h::Q_OFFSET),
        live,
        producer = header(req.headers(), h::PRODUCER_ID),
        producer_epoch = header(req.headers(), h::PRODUCER_EPOCH),
        producer_seq = header(req.headers(), h::PRODUCER_SEQ),
        status = field::Empty,
        next_offset = field::Empty,
    );
    let reading = route == Route::Stream && req.method() == Method::GET;
    // A long-poll waits inside the handler: it is a live reader until it answers.
    let waiting = (reading && live == Some("long-poll")).then(|| LiveReader::start("long-poll"));
    let result = if route == Route::Console {
        Ok(crate::console::serve(&app, &req))
    } else {
        // Boxed: hyper keeps this future by value and moves it; the handler's state is
        // allocated once instead of being copied on each move.
        Box::pin(handle(app, req)).instrument(span.clone()).await
    };
    drop(waiting);
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(parent: &span, "connection dropped without an answer: {e}");
            return Err(e);
        }
    };
    let status = response.status();
    // The header lookup costs more than the rest of this wrapper: only for a live span.
    if !span.is_disabled() {
        span.record("status", status.as_u16());
        if let Some(next) = header(response.headers(), h::STREAM_NEXT_OFFSET) {
            span.record("next_offset", next);
        }
    }
    let elapsed = start.map(|t| t.elapsed()).unwrap_or_default();
    tracing::debug!(parent: &span, elapsed_us = elapsed.as_micros() as u64, "answered");
    if !enabled() {
        return Ok(response);
    }
    counter!(names::REQUESTS, "method" => method, "route" => route.as_str(),
        "status" => status.as_u16().to_string())
    .increment(1);
    histogram!(names::REQUEST_SECONDS, "method" => method, "route" => route.as_str())
        .record(elapsed.as_secs_f64());
    if !(reading && status == StatusCode::OK) {
        return Ok(response);
    }
    match live {
        // A reader parked outside hyper counts itself.
        Some("sse") if crate::http::park::parked_here() => Ok(response),
        Some("sse") => Ok(count_sse(response)),
        mode => {
            let bytes = response.body().size_hint().exact().unwrap_or(0);
            counter!(names::READ_BYTES, "mode" => mode.unwrap_or("catch-up")).increment(bytes);
            Ok(response)
        }
    }
}

/// Counts an SSE body's bytes as they are sent, and its reader as live until it ends.
fn count_sse(response: Response<Body>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let reader = LiveReader::start("sse");
    let sent = counter!(names::READ_BYTES, "mode" => "sse");
    let body = body
        .map_frame(move |frame| {
            let _live = &reader;
            if let Some(data) = frame.data_ref() {
                sent.increment(data.len() as u64);
            }
            frame
        })
        .boxed_unsync();
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params() {
        let q = Some("offset=-1&live=sse&cursor=3");
        assert_eq!(query_param(q, "offset"), Some("-1"));
        assert_eq!(query_param(q, "live"), Some("sse"));
        assert_eq!(query_param(Some("liveness=x"), "live"), None);
        assert_eq!(query_param(None, "live"), None);
    }
}
