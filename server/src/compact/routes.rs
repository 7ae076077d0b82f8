//! HTTP routes of state compaction, under the reserved prefix (with `--state-compaction`):
//!
//! ```text
//! POST       {prefix}/__ds/compact/<path>              compact the stream <path>
//! GET|HEAD   {prefix}/__ds/snapshots/<path>/<offset>   read a snapshot (any read mode)
//! ```
//!
//! and the `Stream-Snapshot` / `Stream-Snapshot-Offset` headers on a compacted stream's
//! `HEAD` and `GET` ([`advertise`]).

use http::{HeaderMap, Method, Request, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::{names, CompactError, Compacted};
use crate::http::response::{full, Reply};
use crate::http::App;
use durastream::headers as h;
use durastream::Offset;

fn json_error(status: StatusCode, code: &str, message: &str) -> Reply {
    let body = json!({ "error": { "code": code, "message": message } });
    Reply::new(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(full(body.to_string()))
}

/// The response to a failed compaction (the only place this is decided).
pub fn compact_error(e: &CompactError) -> Reply {
    let msg = e.to_string();
    let (status, code) = match e {
        CompactError::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
        CompactError::Gone => (StatusCode::GONE, "GONE"),
        CompactError::NotJson => (StatusCode::CONFLICT, "NOT_JSON"),
        CompactError::OpenSnapshot => (StatusCode::CONFLICT, "OPEN_SNAPSHOT"),
        CompactError::NotState { .. } => (StatusCode::CONFLICT, "NOT_STATE_PROTOCOL"),
        CompactError::TooLarge { .. } => (StatusCode::CONFLICT, "STATE_TOO_LARGE"),
        CompactError::Store(s) => return crate::http::response::store_error(s),
        CompactError::Io(_) | CompactError::Internal(_) => {
            tracing::error!("compaction failed: {msg}");
            (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL")
        }
    };
    json_error(status, code, &msg)
}

/// The stream key named by the raw relative path `rel`, or the error response.
fn source_key(app: &App, rel: &str) -> Result<String, Reply> {
    app.stream_key(&format!("{}/{rel}", app.config.prefix_path()))
}

/// Answers requests under `{prefix}/__ds/compact/` and `{prefix}/__ds/snapshots/`; `rest`
/// is the raw path after `{prefix}/__ds`. `None` for other paths.
pub async fn handle(
    app: &App,
    method: &Method,
    req: &Request<Incoming>,
    rest: &str,
    query: Option<&str>,
) -> Option<Reply> {
    let headers = req.headers();
    let rest = rest.trim_start_matches('/');
    let compact = rest.strip_prefix("compact/");
    let snapshot = rest.strip_prefix("snapshots/");
    if compact.is_none() && snapshot.is_none() {
        return None;
    }
    let Some(compactor) = &app.compactor else {
        let msg = "state compaction is off: start the server with --state-compaction";
        return Some(json_error(StatusCode::NOT_FOUND, "NOT_FOUND", msg));
    };
    if let Some(rel) = compact {
        if method != Method::POST {
            return Some(
                json_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "use POST")
                    .header("allow", "POST"),
            );
        }
        let key = match source_key(app, rel) {
            Ok(k) => k,
            Err(r) => return Some(r),
        };
        return Some(match compactor.compact(&key).await {
            Ok(c) => compacted(app, headers, &key, &c),
            Err(e) => compact_error(&e),
        });
    }
    let rest = snapshot.unwrap_or_default();
    let Some((rel, pos)) = names::parse_url_rest(rest) else {
        let msg = "a snapshot URL ends with /<offset>";
        return Some(json_error(StatusCode::NOT_FOUND, "NOT_FOUND", msg));
    };
    let key = match source_key(app, rel) {
        Ok(k) => k,
        Err(r) => return Some(r),
    };
    let snap = names::key(&key, pos);
    let reply = match *method {
        Method::GET => crate::http::read::get(app, &snap, query, headers, req.version()).await,
        Method::HEAD => crate::http::read::head(app, &snap).await,
        _ => {
            return Some(
                json_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "use GET")
                    .header("allow", "GET, HEAD"),
            )
        }
    };
    Some(reply.header(h::STREAM_SNAPSHOT_OFFSET, Offset(pos).to_string()))
}

fn compacted(app: &App, headers: &HeaderMap, key: &str, c: &Compacted) -> Reply {
    let prefix = app.config.prefix_path();
    let path = names::url_path(prefix, key, c.snapshot.pos).unwrap_or_default();
    let url = app.absolute_url(headers, &path);
    let offset = Offset(c.snapshot.pos).to_string();
    let body = json!({
        "snapshot": url,
        "offset": offset,
        "created": c.created,
        "events": c.counts.events,
        "malformed": c.counts.malformed,
        "entities": c.entities,
        "bytes": c.bytes,
        "trimmed": app.compactor.as_ref().is_some_and(|k| k.config().trim),
    });
    let status = if c.created { StatusCode::CREATED } else { StatusCode::OK };
    Reply::new(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .header("location", &url)
        .header(h::STREAM_SNAPSHOT, &path)
        .header(h::STREAM_SNAPSHOT_OFFSET, &offset)
        .body(full(body.to_string()))
}

/// Adds `Stream-Snapshot` (URL path of the newest snapshot, percent-encoded) and
/// `Stream-Snapshot-Offset` to a response about the stream at `key`, when it has one.
pub async fn advertise(app: &App, key: &str, reply: Reply) -> Reply {
    let Some(compactor) = &app.compactor else { return reply };
    let Some(r) = compactor.newest(key).await else { return reply };
    let Some(path) = names::url_path(app.config.prefix_path(), key, r.pos) else { return reply };
    let encoded = crate::http::encode_path(&path);
    reply
        .header(h::STREAM_SNAPSHOT, encoded)
        .header(h::STREAM_SNAPSHOT_OFFSET, Offset(r.pos).to_string())
}
