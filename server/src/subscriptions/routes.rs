//! HTTP routes of the reserved `__ds` prefix (spec section 6), routed before streams:
//!
//! ```text
//! GET                  {prefix}/__ds/jwks.json
//! PUT | GET | DELETE   {prefix}/__ds/subscriptions/:id
//! POST                 {prefix}/__ds/subscriptions/:id/streams
//! DELETE               {prefix}/__ds/subscriptions/:id/streams/:path   (path URL-encoded)
//! POST                 {prefix}/__ds/subscriptions/:id/{callback,claim,ack,release}
//! GET                  {prefix}/__ds/streams, {prefix}/__ds/subscriptions   (admin.rs)
//! ```

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

use super::SubError;
use crate::http::response::{full, subscription_error, Reply};
use crate::http::App;

/// The part of `path` after `{prefix}/__ds`, when `path` is under the reserved prefix.
pub fn reserved<'a>(prefix: &str, path: &'a str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?.strip_prefix("/__ds")?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

fn json_reply(status: StatusCode, v: &Value) -> Reply {
    Reply::new(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(full(v.to_string()))
}

fn not_found() -> Reply {
    let body = json!({ "error": { "code": "NOT_FOUND", "message": "no such __ds endpoint" } });
    json_reply(StatusCode::NOT_FOUND, &body)
}

fn method_not_allowed(allow: &'static str) -> Reply {
    let body =
        json!({ "error": { "code": "METHOD_NOT_ALLOWED", "message": "method not allowed" } });
    json_reply(StatusCode::METHOD_NOT_ALLOWED, &body).header("allow", allow)
}

fn decode(seg: &str) -> Option<String> {
    percent_encoding::percent_decode_str(seg).decode_utf8().ok().map(|s| s.into_owned())
}

fn reply<T>(r: Result<T, SubError>, ok: impl FnOnce(T) -> Reply) -> Reply {
    match r {
        Ok(v) => ok(v),
        Err(e) => subscription_error(&e),
    }
}

fn acked(next_wake: bool) -> Reply {
    json_reply(StatusCode::OK, &json!({ "ok": true, "next_wake": next_wake }))
}

/// Handles a request under `{prefix}/__ds`; `rest` is the raw path after it.
pub async fn handle(
    app: &App,
    method: &Method,
    headers: &HeaderMap,
    rest: &str,
    query: Option<&str>,
    body: Bytes,
) -> Reply {
    let Some(subs) = &app.subscriptions else {
        return crate::http::response::error(
            StatusCode::NOT_IMPLEMENTED,
            "subscriptions are not available on this server",
        );
    };
    let host = crate::http::safe_host(headers);
    let rest = rest.trim_start_matches('/');
    if let Some(r) = crate::admin::handle(app, method, rest, query).await {
        return r;
    }
    if rest == "jwks.json" {
        return match *method {
            Method::GET | Method::HEAD => json_reply(StatusCode::OK, &subs.jwks())
                .header("content-type", "application/jwk-set+json")
                .header("cache-control", "public, max-age=300"),
            _ => method_not_allowed("GET, HEAD"),
        };
    }
    let Some(after) = rest.strip_prefix("subscriptions/") else { return not_found() };
    let (raw_id, tail) = after.split_once('/').unwrap_or((after, ""));
    let Some(id) = decode(raw_id) else { return not_found() };
    if id.is_empty() {
        return not_found();
    }
    // No subscription can have a malformed id: answer before touching any state.
    if *method != Method::PUT && super::config::check_id(&id).is_err() {
        return subscription_error(&SubError::NotFound);
    }
    match (tail, method) {
        ("", &Method::PUT) => reply(subs.put(&id, &body, host).await, |(v, created)| {
            let status = if created { StatusCode::CREATED } else { StatusCode::OK };
            json_reply(status, &v)
        }),
        ("", &Method::GET) => reply(subs.get(&id, host).await, |v| json_reply(StatusCode::OK, &v)),
        ("", &Method::DELETE) => {
            reply(subs.delete(&id).await, |()| Reply::new(StatusCode::NO_CONTENT))
        }
        ("", _) => method_not_allowed("GET, PUT, DELETE"),
        ("streams", &Method::POST) => {
            reply(subs.add_streams(&id, &body).await, |()| Reply::new(StatusCode::NO_CONTENT))
        }
        ("streams", _) => method_not_allowed("POST"),
        ("callback", &Method::POST) => reply(subs.callback(&id, headers, &body).await, acked),
        ("claim", &Method::POST) => {
            reply(subs.claim(&id, &body).await, |v| json_reply(StatusCode::OK, &v))
        }
        ("ack", &Method::POST) => reply(subs.ack(&id, headers, &body).await, acked),
        ("release", &Method::POST) => {
            reply(subs.release(&id, headers, &body).await, |()| Reply::new(StatusCode::NO_CONTENT))
        }
        ("callback" | "claim" | "ack" | "release", _) => method_not_allowed("POST"),
        (t, m) => match t.strip_prefix("streams/") {
            Some(raw) if m == Method::DELETE => match decode(raw) {
                Some(path) => reply(subs.remove_stream(&id, &path).await, |()| {
                    Reply::new(StatusCode::NO_CONTENT)
                }),
                None => subscription_error(&SubError::invalid("stream path is not valid UTF-8")),
            },
            Some(_) => method_not_allowed("DELETE"),
            None => not_found(),
        },
    }
}

/// The JSON error body of a subscription error: `{"error":{"code","message",…}}`.
pub fn error_body(e: &SubError, message: &str) -> Value {
    let mut err = json!({ "code": e.code(), "message": message });
    if let SubError::AlreadyClaimed { holder, generation } = e {
        err["current_holder"] = json!(holder);
        err["generation"] = json!(generation);
    }
    json!({ "error": err })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_prefix() {
        assert_eq!(reserved("/v1/stream", "/v1/stream/__ds/jwks.json"), Some("/jwks.json"));
        assert_eq!(reserved("/v1/stream", "/v1/stream/__ds"), Some(""));
        assert_eq!(reserved("/v1/stream", "/v1/stream/__dsx"), None);
        assert_eq!(reserved("/v1/stream", "/v1/stream/events/__ds"), None);
        assert_eq!(reserved("", "/__ds/subscriptions/a"), Some("/subscriptions/a"));
    }
}
