//! Which permission a request needs, on which path (relative to the stream prefix).
//!
//! | request | needs |
//! |---|---|
//! | `OPTIONS` (CORS preflight) | nothing |
//! | `GET`/`HEAD` stream (catch-up, long-poll, SSE, metadata) | read on the stream |
//! | `POST` stream (append, close) | write on the stream |
//! | `PUT` stream (create) | write on the stream |
//! | `PUT` with `Stream-Forked-From` (fork) | write on the new stream and read on the source |
//! | `DELETE` stream | admin on the stream |
//! | `GET {prefix}/__ds/jwks.json` | nothing (webhook receivers fetch it) |
//! | `GET` subscription | read on `/__ds/subscriptions/<id>` |
//! | `POST .../claim` | write on `/__ds/subscriptions/<id>` |
//! | `PUT`/`DELETE` subscription, `.../streams` membership | admin on `/__ds/subscriptions/<id>` |
//! | `POST .../callback`, `.../ack`, `.../release` | nothing here: they carry their own token |
//! | `POST {prefix}/__ds/compact/<path>` | write on `<path>` (admin with `--state-compaction-trim`) |
//! | `GET`/`HEAD {prefix}/__ds/snapshots/<path>/<offset>` | read on `<path>` |
//! | anything else | admin on the path, or any valid token where the router refuses it |
//!
//! The `__ds` parsing mirrors `subscriptions::routes::handle` exactly, so no request is public
//! here and routed elsewhere there.

use http::{HeaderMap, Method, Uri};

use super::grants::Permission;
use crate::http::{faults, App};
use crate::subscriptions::routes as subscription_routes;
use durastream::headers as h;

/// What a request needs.
#[derive(Debug, PartialEq, Eq)]
pub enum Need {
    /// No token.
    Public,
    /// Any valid token (the router answers 400 or 404 anyway).
    Authenticated,
    /// These permissions, each on its path.
    Grants(Vec<(Permission, String)>),
}

/// The needs of one request.
pub fn need(app: &App, method: &Method, uri: &Uri, headers: &HeaderMap) -> Need {
    if method == Method::OPTIONS {
        return Need::Public;
    }
    let prefix = app.config.prefix_path();
    let path = uri.path();
    if let Some(rest) = subscription_routes::reserved(prefix, path) {
        if let Some(need) = compaction(app, method, rest) {
            return need;
        }
        return reserved(method, rest);
    }
    if app.faults.is_some() && path == faults::PATH {
        return Need::Grants(vec![(Permission::Admin, "/".into())]);
    }
    let Ok(key) = app.stream_key(path) else { return Need::Authenticated };
    let relative = |full: &str| full.strip_prefix(prefix).unwrap_or(full).to_string();
    let target = relative(&key);
    let mut needs = match *method {
        Method::GET | Method::HEAD => vec![(Permission::Read, target)],
        Method::POST | Method::PUT => vec![(Permission::Write, target)],
        _ => vec![(Permission::Admin, target)],
    };
    if method == Method::PUT {
        let source = headers.get(h::STREAM_FORKED_FROM).and_then(|v| v.to_str().ok());
        // An unusable source is refused by the router with 400; nothing to check here.
        if let Some(Ok(source)) = source.map(|s| app.fork_source_path(s)) {
            needs.push((Permission::Read, relative(&source)));
        }
    }
    Need::Grants(needs)
}

/// The needs of a compaction request (`rest` after `{prefix}/__ds`), decided on the source
/// stream's path as `compact::routes::handle` resolves it; `None` for other paths.
fn compaction(app: &App, method: &Method, rest: &str) -> Option<Need> {
    let rest = rest.trim_start_matches('/');
    let (rel, permission) = if let Some(rel) = rest.strip_prefix("compact/") {
        let trim = app.config.state_compaction.as_ref().is_some_and(|c| c.trim);
        (Some(rel), if trim { Permission::Admin } else { Permission::Write })
    } else if let Some(r) = rest.strip_prefix("snapshots/") {
        let rel = crate::compact::names::parse_url_rest(r).map(|(rel, _)| rel);
        let permission = match *method {
            Method::GET | Method::HEAD => Permission::Read,
            _ => Permission::Admin,
        };
        (rel, permission)
    } else {
        return None;
    };
    let prefix = app.config.prefix_path();
    let key = rel.and_then(|rel| app.stream_key(&format!("{prefix}/{rel}")).ok());
    Some(match key {
        Some(key) => {
            let target = key.strip_prefix(prefix).unwrap_or(&key).to_string();
            Need::Grants(vec![(permission, target)])
        }
        None => Need::Authenticated,
    })
}

/// The needs of a request under `{prefix}/__ds`; `rest` is the raw path after it.
fn reserved(method: &Method, rest: &str) -> Need {
    let rest = rest.trim_start_matches('/');
    if rest == "jwks.json" && matches!(*method, Method::GET | Method::HEAD) {
        return Need::Public;
    }
    let Some(after) = rest.strip_prefix("subscriptions/") else {
        return Need::Grants(vec![(Permission::Admin, "/__ds".into())]);
    };
    let (raw_id, tail) = after.split_once('/').unwrap_or((after, ""));
    let Ok(id) = percent_encoding::percent_decode_str(raw_id).decode_utf8() else {
        return Need::Authenticated;
    };
    let path = format!("/__ds/subscriptions/{id}");
    let permission = match (tail, method) {
        ("callback" | "ack" | "release", &Method::POST) => return Need::Public,
        ("", &Method::GET) => Permission::Read,
        ("claim", &Method::POST) => Permission::Write,
        _ => Permission::Admin,
    };
    Need::Grants(vec![(permission, path)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(p: Permission, path: &str) -> Need {
        Need::Grants(vec![(p, path.to_string())])
    }

    #[test]
    fn subscription_routes() {
        let post = Method::POST;
        assert_eq!(reserved(&Method::GET, "/jwks.json"), Need::Public);
        assert_eq!(reserved(&post, "/jwks.json"), grants(Permission::Admin, "/__ds"));
        assert_eq!(reserved(&post, "/subscriptions/s1/callback"), Need::Public);
        assert_eq!(reserved(&post, "/subscriptions/s1/ack"), Need::Public);
        assert_eq!(reserved(&post, "/subscriptions/s1/release"), Need::Public);
        assert_eq!(
            reserved(&Method::GET, "/subscriptions/s1/callback"),
            grants(Permission::Admin, "/__ds/subscriptions/s1")
        );
        assert_eq!(
            reserved(&post, "/subscriptions/s1/callback/x"),
            grants(Permission::Admin, "/__ds/subscriptions/s1")
        );
        assert_eq!(
            reserved(&post, "/subscriptions/s1/claim"),
            grants(Permission::Write, "/__ds/subscriptions/s1")
        );
        assert_eq!(
            reserved(&Method::GET, "/subscriptions/s1"),
            grants(Permission::Read, "/__ds/subscriptions/s1")
        );
        assert_eq!(
            reserved(&Method::PUT, "/subscriptions/s1"),
            grants(Permission::Admin, "/__ds/subscriptions/s1")
        );
        assert_eq!(
            reserved(&Method::DELETE, "/subscriptions/s1/streams/a%2Fb"),
            grants(Permission::Admin, "/__ds/subscriptions/s1")
        );
    }
}
