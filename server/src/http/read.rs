//! Reads: catch-up and long-poll `GET`, and `HEAD`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};

use super::response::{full, store_error, Reply};
use super::App;
use crate::store::{Piece, StoreError, Stream, Visible};
use durastream::headers as h;
use durastream::{cursor, json, values, OffsetParam};

/// Cache policy of catch-up and long-poll data responses (spec section 10.1).
pub const CACHE_DATA: &str = "public, max-age=60, stale-while-revalidate=300";
/// Cache policy of responses that reveal the tail (HEAD, `offset=now`, 204s).
pub const CACHE_NONE: &str = "no-store";

/// Live mode of a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Live {
    None,
    LongPoll,
    Sse,
}

/// The parsed query of a read.
#[derive(Debug)]
pub struct ReadQuery {
    pub offset: OffsetParam,
    pub live: Live,
    pub cursor: Option<String>,
}

/// Parses `offset`, `live` and `cursor`; other parameters are ignored.
pub fn parse_query(query: Option<&str>) -> Result<ReadQuery, StoreError> {
    let mut offset = None;
    let mut live = None;
    let mut cursor = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned();
        match k {
            h::Q_OFFSET => {
                if offset.is_some() {
                    return Err(StoreError::bad("offset is given more than once"));
                }
                offset =
                    Some(v.parse::<OffsetParam>().map_err(|e| StoreError::bad(e.to_string()))?);
            }
            h::Q_LIVE => {
                live = Some(match v.as_str() {
                    "long-poll" => Live::LongPoll,
                    "sse" => Live::Sse,
                    other => {
                        return Err(StoreError::bad(format!(
                            "unknown live mode {other:?}: use long-poll or sse"
                        )))
                    }
                })
            }
            h::Q_CURSOR => cursor = Some(v),
            _ => {}
        }
    }
    let live = live.unwrap_or(Live::None);
    if live != Live::None && offset.is_none() {
        return Err(StoreError::bad(
            "live reads need an offset parameter (-1, now, or a saved offset)",
        ));
    }
    Ok(ReadQuery { offset: offset.unwrap_or(OffsetParam::Start), live, cursor })
}

/// The cursor for a live response.
pub fn live_cursor(echoed: Option<&str>) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let echoed = echoed.and_then(|c| c.parse::<u64>().ok());
    let jitter = rand::random::<u64>() % 3600 + 1;
    cursor::next_cursor(now, echoed, jitter).to_string()
}

/// Resolves the `offset` parameter of a read of `stream` to a position, given what readers
/// can see now. In a JSON stream the position must start a message: a read from inside one
/// would return text that is not JSON.
pub async fn start_position(
    stream: &Stream,
    offset: OffsetParam,
    v: Visible,
) -> Result<u64, StoreError> {
    let earliest = stream.trimmed_before();
    match offset {
        OffsetParam::Start if earliest > 0 => Err(StoreError::Trimmed { earliest }),
        OffsetParam::Start => Ok(0),
        OffsetParam::Now => Ok(v.tail),
        OffsetParam::At(o) if o.position() > v.tail => {
            Err(StoreError::bad("offset is beyond the stream's tail"))
        }
        OffsetParam::At(o) if o.position() < earliest => Err(StoreError::Trimmed { earliest }),
        // The trim point is a message boundary (a snapshot's offset), and the bytes
        // before it, which the check would read, are gone.
        OffsetParam::At(o) if o.position() == earliest => Ok(earliest),
        OffsetParam::At(o) => {
            check_boundary(stream, o.position(), v.tail, "offset").await?;
            Ok(o.position())
        }
    }
}

/// Checks that `pos` (at most `tail`) is a message boundary of a JSON stream: the start,
/// the tail, or just after a stored message's closing newline. Other streams have no
/// messages; every position is a boundary.
/// The byte the rule reads (just before `pos`) is fetched first without blocking.
pub async fn check_boundary(
    stream: &Stream,
    pos: u64,
    tail: u64,
    what: &str,
) -> Result<(), StoreError> {
    let reads = stream.is_json() && pos > 0 && pos < tail;
    let before = if reads { stream.read_async(pos - 1, pos).await? } else { Bytes::new() };
    let read = |a: u64, b: u64| {
        if reads && a + 1 == pos && b == pos {
            Ok(before.clone())
        } else {
            stream.read(a, b)
        }
    };
    crate::store::rules::check_boundary(&stream.meta.content_type, pos, tail, &read, what)
}

/// Where a read from `pos` stops: at the tail, or `max` bytes on (before the cut at a
/// JSON message boundary).
fn chunk_end(pos: u64, tail: u64, max: usize) -> u64 {
    tail.min(pos.saturating_add(max as u64))
}

/// Reads up to `max` bytes of whole messages at `pos`; returns the bytes and their end.
/// Only a single JSON message longer than `max` makes a response larger than `max`.
pub async fn read_chunk(
    stream: &Stream,
    pos: u64,
    tail: u64,
    max: usize,
) -> Result<(Bytes, u64), StoreError> {
    let end = chunk_end(pos, tail, max);
    if end <= pos {
        return Ok((Bytes::new(), pos));
    }
    let bytes = stream.read_async(pos, end).await?;
    if !stream.is_json() || end == tail {
        return Ok((bytes, end));
    }
    if let Some(i) = memchr::memrchr(b'\n', &bytes) {
        return Ok((bytes.slice(..=i), pos + i as u64 + 1));
    }
    // A single message longer than `max`: read it whole.
    let mut more = BytesMut::from(bytes.as_ref());
    let mut at = end;
    while at < tail {
        let next = tail.min(at + max as u64);
        let chunk = stream.read_async(at, next).await?;
        if let Some(i) = memchr::memchr(b'\n', &chunk) {
            more.extend_from_slice(&chunk[..=i]);
            return Ok((more.freeze(), at + i as u64 + 1));
        }
        more.extend_from_slice(&chunk);
        at = next;
    }
    Ok((more.freeze(), tail))
}

fn etag(stream: &Stream, start: u64, end: u64, closed: bool) -> String {
    format!("\"{}:{}:{}{}\"", stream.id, start, end, if closed { ":c" } else { "" })
}

fn etag_matches(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all("if-none-match")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*" || t.trim_matches('"') == tag.trim_matches('"'))
}

/// `GET` of HTTP `version` (SSE responses depend on it).
pub async fn get(
    app: &App,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    version: http::Version,
) -> Reply {
    let reply = match get_inner(app, path, query, headers, version).await {
        Ok(r) => r,
        Err(e) => store_error(&e),
    };
    crate::compact::routes::advertise(app, path, reply).await
}

async fn get_inner(
    app: &App,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    version: http::Version,
) -> Result<Reply, StoreError> {
    let q = parse_query(query)?;
    let stream = app.store.get(path).await?;
    app.store.touch(&stream).await;
    if q.live == Live::Sse {
        return super::sse::open(app, stream, q, version).await;
    }
    let mut v = stream.visible();
    let pos = start_position(&stream, q.offset, v).await?;
    let long_poll = q.live == Live::LongPoll;
    if q.offset == OffsetParam::Now && (!long_poll || v.closed) {
        let body = if stream.is_json() { full("[]") } else { super::response::empty() };
        let status = if long_poll { StatusCode::NO_CONTENT } else { StatusCode::OK };
        let mut r = Reply::new(status)
            .header("content-type", &stream.meta.content_type)
            .offset(v.tail)
            .flag(h::STREAM_UP_TO_DATE, true)
            .flag(h::STREAM_CLOSED, v.closed)
            .header("cache-control", CACHE_NONE)
            .body(body);
        if long_poll && !v.closed {
            r = r.header(h::STREAM_CURSOR, live_cursor(q.cursor.as_deref()));
        }
        return Ok(r);
    }
    if long_poll && pos >= v.tail {
        if !v.closed {
            v = wait_for_data(app, &stream, pos).await?;
        }
        if pos >= v.tail {
            let mut r = Reply::new(StatusCode::NO_CONTENT)
                .offset(v.tail)
                .flag(h::STREAM_UP_TO_DATE, true)
                .flag(h::STREAM_CLOSED, v.closed)
                .header("cache-control", CACHE_NONE);
            if !v.closed {
                r = r.header(h::STREAM_CURSOR, live_cursor(q.cursor.as_deref()));
            }
            return Ok(r);
        }
    }
    let (body, end) = match park_file(app, &stream, pos, v, headers, version)? {
        Some(end) => (super::park::placeholder(), end),
        None => {
            let (bytes, end) = read_chunk(&stream, pos, v.tail, app.config.max_read_bytes).await?;
            let body = if stream.is_json() { full(json::to_array(&bytes)) } else { full(bytes) };
            (body, end)
        }
    };
    let up_to_date = end >= v.tail;
    let closed = v.closed && up_to_date;
    let tag = etag(&stream, pos, end, closed);
    let mut r = if etag_matches(headers, &tag) {
        Reply::new(StatusCode::NOT_MODIFIED)
    } else {
        Reply::new(StatusCode::OK).header("content-type", &stream.meta.content_type).body(body)
    };
    r = r
        .offset(end)
        .flag(h::STREAM_UP_TO_DATE, up_to_date)
        .flag(h::STREAM_CLOSED, closed)
        .header("etag", tag)
        .header("cache-control", CACHE_DATA);
    if long_poll && !closed {
        r = r.header(h::STREAM_CURSOR, live_cursor(q.cursor.as_deref()));
    }
    Ok(r)
}

/// Hands a large catch-up body of a binary stream on a plain HTTP/1.1 connection to
/// `sendfile` (sent from the data file after hyper wrote the head); returns its end, or
/// `None` when the body goes through hyper (JSON, small, in memory, HTTP/2, TLS, a
/// revalidation that gets 304, or fault injection, which rewrites bodies).
fn park_file(
    app: &App,
    stream: &Arc<Stream>,
    pos: u64,
    v: Visible,
    headers: &HeaderMap,
    version: http::Version,
) -> Result<Option<u64>, StoreError> {
    let min = app.config.sendfile_min_bytes as u64;
    let end = chunk_end(pos, v.tail, app.config.max_read_bytes);
    if min == 0 || end.saturating_sub(pos) < min || stream.is_json() || app.faults.is_some() {
        return Ok(None);
    }
    let Some(handoff) = super::park::current().filter(|_| version == http::Version::HTTP_11) else {
        return Ok(None);
    };
    if etag_matches(headers, &etag(stream, pos, end, v.closed && end >= v.tail)) {
        return Ok(None);
    }
    let Some(pieces) = stream.read_pieces(pos, end)? else { return Ok(None) };
    if !pieces.iter().any(|p| matches!(p, Piece::File { .. })) {
        return Ok(None);
    }
    let body = super::sendfile::FileBody { stream: stream.clone(), pos, pieces };
    Ok(handoff.try_park_file(body).is_none().then_some(end))
}

/// Waits until the stream grows past `pos`, closes, or the long-poll timeout passes.
async fn wait_for_data(app: &App, stream: &Arc<Stream>, pos: u64) -> Result<Visible, StoreError> {
    let mut rx = stream.visible.subscribe();
    let mut shutdown = app.shutdown.clone();
    let deadline = tokio::time::sleep(app.config.long_poll_timeout);
    tokio::pin!(deadline);
    loop {
        let v = *rx.borrow_and_update();
        if v.gone {
            return Err(StoreError::NotFound);
        }
        if v.tail > pos || v.closed || *shutdown.borrow() {
            return Ok(v);
        }
        tokio::select! {
            r = rx.changed() => if r.is_err() { return Err(StoreError::NotFound) },
            _ = shutdown.changed() => {}
            _ = &mut deadline => return Ok(v),
        }
    }
}

/// `HEAD`: metadata without a body. Does not renew the sliding TTL.
pub async fn head(app: &App, path: &str) -> Reply {
    let stream = match app.store.get(path).await {
        Ok(s) => s,
        Err(e) => return store_error(&e),
    };
    let v = stream.visible();
    let mut r = Reply::new(StatusCode::OK)
        .header("content-type", &stream.meta.content_type)
        .offset(v.tail)
        .flag(h::STREAM_CLOSED, v.closed)
        .header("cache-control", CACHE_NONE);
    if let Some(ttl) = stream.meta.ttl_secs {
        r = r.header(h::STREAM_TTL, ttl.to_string());
    }
    if let Some(at) = stream.meta.expires_at_ms {
        r = r.header(h::STREAM_EXPIRES_AT, values::format_rfc3339(at));
    }
    crate::compact::routes::advertise(app, path, r).await
}

/// Long-poll keep-alive granularity used by SSE (also its idle control interval).
pub fn idle_interval(app: &App) -> Duration {
    app.config.long_poll_timeout.max(Duration::from_millis(100))
}
