//! Administrative listings under the reserved prefix, for the console and `durastream ls`:
//!
//! ```text
//! GET {prefix}/__ds/streams?after=PATH&limit=N&prefix=P   streams in path order, paginated
//! GET {prefix}/__ds/subscriptions                         every subscription with cursors
//! ```
//!
//! The protocol has no listing (stream paths can be secrets), so these answer 404 unless the
//! server runs with `--admin-api` or `--console`.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::http::response::{full, Reply};
use crate::http::App;
use crate::store::postgres::PgStore;
use crate::store::{now_ms, Backend, Store, StreamMeta};
use crate::subscriptions::view_timestamp;
use crate::subscriptions::Service;
use durastream::Offset;

/// Default page size of the stream listing.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size of the stream listing.
pub const MAX_LIMIT: usize = 1000;

fn json_reply(status: StatusCode, v: &Value) -> Reply {
    Reply::new(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(full(v.to_string()))
}

fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    json_reply(status, &json!({ "error": { "code": code, "message": message } }))
}

/// Answers `rest` (the path after `{prefix}/__ds/`) when it is an admin listing.
pub async fn handle(app: &App, method: &Method, rest: &str, query: Option<&str>) -> Option<Reply> {
    if rest != "streams" && rest != "subscriptions" {
        return None;
    }
    if !(app.config.admin_api || app.config.console) {
        return Some(error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "listing is disabled: start the server with --admin-api (or --console)",
        ));
    }
    if method != Method::GET {
        return Some(
            error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "use GET")
                .header("allow", "GET"),
        );
    }
    let page = match rest {
        "streams" => match Page::parse(query) {
            Ok(page) => Some(page),
            Err(msg) => return Some(error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", &msg)),
        },
        _ => None,
    };
    let listed = match (&app.store, page) {
        (Backend::Local(store), Some(page)) => Ok(list_streams(store, app, &page)),
        (Backend::Postgres(pg), Some(page)) => list_streams_pg(pg, app, &page).await,
        (store, None) => list_subscriptions(store, app.subscriptions.as_ref(), app).await,
    };
    Some(match listed {
        Ok(v) => json_reply(StatusCode::OK, &v),
        Err(msg) => error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", &msg),
    })
}

/// The parameters of a listing page.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// List paths strictly after this one (the previous page's `next_after`).
    pub after: Option<String>,
    /// Only paths starting with this.
    pub prefix: Option<String>,
    pub limit: usize,
}

impl Page {
    /// Parses `after`, `prefix` and `limit` (1 to 1000, default 100).
    pub fn parse(query: Option<&str>) -> Result<Page, String> {
        let mut page = Page { limit: DEFAULT_LIMIT, ..Page::default() };
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8()
                .map_err(|_| format!("{k} is not valid UTF-8"))?
                .into_owned();
            match k {
                "after" => page.after = Some(v).filter(|v| !v.is_empty()),
                "prefix" => page.prefix = Some(v).filter(|v| !v.is_empty()),
                "limit" => {
                    page.limit = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| format!("limit must be 1 to {MAX_LIMIT}, got {v:?}"))?;
                }
                _ => {}
            }
        }
        Ok(page)
    }
}

/// One stream of a listing.
struct Item<'a> {
    rel: String,
    meta: &'a StreamMeta,
    tail: u64,
    closed: bool,
    producers: usize,
}

/// `{"streams": [...], "next_after": PATH | null}`; paths relative to `prefix` (`{prefix}/`).
fn page_json(prefix: &str, items: &[Item<'_>], next_after: Option<String>) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|s| {
            json!({
                "path": s.rel,
                "url_path": s.meta.path,
                "content_type": s.meta.content_type,
                "next_offset": Offset(s.tail).to_string(),
                "bytes": s.tail,
                "closed": s.closed,
                "ttl_seconds": s.meta.ttl_secs,
                "expires_at": s.meta.expires_at_ms.map(view_timestamp),
                "producers": s.producers,
                "forked_from": s.meta.fork.as_ref().map(|f| {
                    f.source_path.strip_prefix(prefix).unwrap_or(&f.source_path).to_string()
                }),
                "created_at": view_timestamp(s.meta.created_ms),
            })
        })
        .collect();
    json!({ "streams": items, "next_after": next_after })
}

/// One page of streams, in path order: `{"streams": [...], "next_after": PATH | null}`.
/// Paths are relative to the prefix. Deleted and expired streams are left out.
pub fn list_streams(store: &Store, app: &App, page: &Page) -> Value {
    let prefix = format!("{}/", app.config.prefix_path());
    let now = now_ms();
    let mut streams: Vec<_> = store
        .snapshot_streams()
        .into_iter()
        .filter_map(|s| {
            let rel = s.meta.path.strip_prefix(&prefix)?.to_string();
            let keep = page.after.as_ref().is_none_or(|a| rel > *a)
                && page.prefix.as_ref().is_none_or(|p| rel.starts_with(p.as_str()))
                && !s.expired(now)
                && !s.state.lock().writer.soft_deleted;
            keep.then_some((rel, s))
        })
        .collect();
    streams.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let more = streams.len() > page.limit;
    streams.truncate(page.limit);
    let next_after = more.then(|| streams.last().map(|(rel, _)| rel.clone())).flatten();
    let items: Vec<Item<'_>> = streams
        .iter()
        .map(|(rel, s)| {
            let v = s.visible();
            let producers = s.state.lock().writer.producers.len();
            Item { rel: rel.clone(), meta: &s.meta, tail: v.tail, closed: v.closed, producers }
        })
        .collect();
    page_json(&prefix, &items, next_after)
}

/// [`list_streams`] from a shared database.
async fn list_streams_pg(pg: &PgStore, app: &App, page: &Page) -> Result<Value, String> {
    let prefix = format!("{}/", app.config.prefix_path());
    let starting = format!("{prefix}{}", page.prefix.as_deref().unwrap_or(""));
    let after = page.after.as_ref().map(|a| format!("{prefix}{a}"));
    let (rows, next) = pg
        .list_streams(&starting, after.as_deref(), page.limit)
        .await
        .map_err(|e| e.to_string())?;
    let items: Vec<Item<'_>> = rows
        .iter()
        .filter_map(|r| {
            let rel = r.meta.path.strip_prefix(&prefix)?.to_string();
            Some(Item {
                rel,
                meta: &r.meta,
                tail: r.tail,
                closed: r.closed,
                producers: r.producers,
            })
        })
        .collect();
    let next_after = next.and_then(|k| k.strip_prefix(&prefix).map(str::to_string));
    Ok(page_json(&prefix, &items, next_after))
}

/// Every subscription as `GET` shows it, each linked stream with its current tail and
/// pending bytes beside the subscription's cursor.
async fn list_subscriptions(
    store: &Backend,
    subscriptions: Option<&Service>,
    app: &App,
) -> Result<Value, String> {
    let prefix = app.config.prefix_path();
    let mut subs = match subscriptions {
        Some(s) => s.list().await.map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    for sub in &mut subs {
        let Some(streams) = sub.get_mut("streams").and_then(Value::as_array_mut) else {
            continue;
        };
        for link in streams {
            let Some(path) = link.get("path").and_then(Value::as_str) else { continue };
            let tail = store.get(&format!("{prefix}/{path}")).await.ok().map(|s| s.visible().tail);
            let acked = link
                .get("acked_offset")
                .and_then(Value::as_str)
                .and_then(|o| o.parse::<Offset>().ok())
                .map_or(0, |o| o.position());
            link["tail_offset"] = json!(tail.map(|t| Offset(t).to_string()));
            link["pending_bytes"] = json!(tail.map(|t| t.saturating_sub(acked)));
        }
    }
    Ok(json!({ "subscriptions": subs }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_parameters() {
        assert_eq!(Page::parse(None), Ok(Page { limit: DEFAULT_LIMIT, ..Page::default() }));
        let p = Page::parse(Some("after=a%2Fb&limit=2&prefix=a")).expect("valid");
        assert_eq!((p.after.as_deref(), p.prefix.as_deref(), p.limit), (Some("a/b"), Some("a"), 2));
        assert!(Page::parse(Some("limit=0")).is_err());
        assert!(Page::parse(Some("limit=1001")).is_err());
    }
}
