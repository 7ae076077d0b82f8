//! Write operations: create (`PUT`), append and close (`POST`), delete (`DELETE`).

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::response::{store_error, Reply};
use super::App;
use crate::store::{AppendRequest, CreateRequest, ForkRequest, ProducerStamp, StoreError};
use durastream::headers as h;
use durastream::{values, Offset};

/// Header names of the append path, built once: a lookup by `&str` parses and checks the
/// name on every request.
mod names {
    use durastream::headers as h;
    use http::HeaderName;

    pub const STREAM_CLOSED: HeaderName = HeaderName::from_static(h::STREAM_CLOSED);
    pub const STREAM_SEQ: HeaderName = HeaderName::from_static(h::STREAM_SEQ);
    pub const PRODUCER_ID: HeaderName = HeaderName::from_static(h::PRODUCER_ID);
    pub const PRODUCER_EPOCH: HeaderName = HeaderName::from_static(h::PRODUCER_EPOCH);
    pub const PRODUCER_SEQ: HeaderName = HeaderName::from_static(h::PRODUCER_SEQ);
}

/// A header as text; a value that is not visible ASCII is a client error.
pub fn header<K>(headers: &HeaderMap, name: K) -> Result<Option<&str>, StoreError>
where
    K: http::header::AsHeaderName + std::fmt::Display + Copy,
{
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| StoreError::bad(format!("header {name} is not valid text"))),
    }
}

/// Parses the headers of a create request for a stream at `path`; `prefix` is the
/// server's stream prefix (fork sources must live under it).
pub fn parse_create(
    prefix: &str,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<CreateRequest, StoreError> {
    let ttl_secs = match header(headers, h::STREAM_TTL)? {
        Some(v) => Some(values::strict_uint(v).ok_or_else(|| {
            StoreError::bad(format!(
                "Stream-TTL must be a non-negative integer of seconds, got {v:?}"
            ))
        })?),
        None => None,
    };
    let expires_at_ms = match header(headers, h::STREAM_EXPIRES_AT)? {
        Some(v) => Some(values::rfc3339_millis(v).ok_or_else(|| {
            StoreError::bad(format!("Stream-Expires-At must be an RFC 3339 timestamp, got {v:?}"))
        })?),
        None => None,
    };
    if ttl_secs.is_some() && expires_at_ms.is_some() {
        return Err(StoreError::bad("Stream-TTL and Stream-Expires-At cannot both be set"));
    }
    let source = header(headers, h::STREAM_FORKED_FROM)?;
    let fork_offset = header(headers, h::STREAM_FORK_OFFSET)?;
    let sub = header(headers, h::STREAM_FORK_SUB_OFFSET)?;
    let fork = match source {
        None => {
            if fork_offset.is_some() || sub.is_some() {
                return Err(StoreError::bad(
                    "Stream-Fork-Offset and Stream-Fork-Sub-Offset need Stream-Forked-From",
                ));
            }
            None
        }
        Some(src) => {
            let source_path = super::fork_source_path(prefix, src)?;
            let offset = match fork_offset {
                Some(o) => Some(
                    o.parse::<Offset>()
                        .map_err(|e| StoreError::bad(format!("Stream-Fork-Offset: {e}")))?
                        .position(),
                ),
                None => None,
            };
            let sub_offset = match sub {
                Some(v) => values::strict_uint(v).ok_or_else(|| {
                    StoreError::bad(format!(
                        "Stream-Fork-Sub-Offset must be a non-negative integer, got {v:?}"
                    ))
                })?,
                None => 0,
            };
            Some(ForkRequest { source_path, offset, sub_offset })
        }
    };
    Ok(CreateRequest {
        path: path.to_string(),
        content_type: header(headers, "content-type")?.map(str::to_string),
        ttl_secs,
        expires_at_ms,
        closed: h::is_true(header(headers, h::STREAM_CLOSED)?),
        body,
        fork,
    })
}

/// `PUT`: create a stream (or confirm an identical one).
pub async fn create(app: &App, path: &str, headers: &HeaderMap, body: Bytes) -> Reply {
    let req = match parse_create(app.config.prefix_path(), path, headers, body) {
        Ok(r) => r,
        Err(e) => return store_error(&e),
    };
    match app.store.create(req).await {
        Ok((s, created)) => {
            let v = s.visible();
            let status = if created { StatusCode::CREATED } else { StatusCode::OK };
            let mut r = Reply::new(status)
                .header("content-type", &s.meta.content_type)
                .offset(v.tail)
                .flag(h::STREAM_CLOSED, v.closed);
            if created {
                r = r.header("location", app.absolute_url(headers, path));
            }
            r
        }
        Err(e) => store_error(&e),
    }
}

/// Parses the `Producer-Id`, `Producer-Epoch` and `Producer-Seq` headers (all or none).
pub fn parse_producer(headers: &HeaderMap) -> Result<Option<ProducerStamp>, StoreError> {
    let h = AppendHeaders::scan(headers);
    producer(h.producer_id, h.producer_epoch, h.producer_seq)
}

/// A header's value as text; a value that is not visible ASCII is a client error.
fn text<'a>(name: &str, v: Option<&'a HeaderValue>) -> Result<Option<&'a str>, StoreError> {
    v.map(|v| v.to_str().map_err(|_| StoreError::bad(format!("header {name} is not valid text"))))
        .transpose()
}

fn producer(
    id: Option<&HeaderValue>,
    epoch: Option<&HeaderValue>,
    seq: Option<&HeaderValue>,
) -> Result<Option<ProducerStamp>, StoreError> {
    let id = text(h::PRODUCER_ID, id)?;
    let epoch = text(h::PRODUCER_EPOCH, epoch)?;
    let seq = text(h::PRODUCER_SEQ, seq)?;
    match (id, epoch, seq) {
        (None, None, None) => Ok(None),
        (Some(id), Some(epoch), Some(seq)) => {
            if id.is_empty() {
                return Err(StoreError::bad("Producer-Id must not be empty"));
            }
            let num = |name: &str, v: &str| {
                values::producer_number(v).ok_or_else(|| {
                    StoreError::bad(format!(
                        "{name} must be an integer from 0 to 2^53-1, got {v:?}"
                    ))
                })
            };
            Ok(Some(ProducerStamp {
                id: id.to_string(),
                epoch: num("Producer-Epoch", epoch)?,
                seq: num("Producer-Seq", seq)?,
            }))
        }
        _ => Err(StoreError::bad(
            "Producer-Id, Producer-Epoch and Producer-Seq must be sent together",
        )),
    }
}

/// The headers an append reads, found in one pass over the request's few headers: six
/// lookups by name would hash each name (about 170 instructions apiece). Each holds the
/// first value of its name, as `HeaderMap::get` would.
#[derive(Default)]
struct AppendHeaders<'a> {
    content_type: Option<&'a HeaderValue>,
    closed: Option<&'a HeaderValue>,
    stream_seq: Option<&'a HeaderValue>,
    producer_id: Option<&'a HeaderValue>,
    producer_epoch: Option<&'a HeaderValue>,
    producer_seq: Option<&'a HeaderValue>,
}

impl<'a> AppendHeaders<'a> {
    fn scan(headers: &'a HeaderMap) -> AppendHeaders<'a> {
        let mut h = AppendHeaders::default();
        for (name, value) in headers {
            let slot = if name == http::header::CONTENT_TYPE {
                &mut h.content_type
            } else if name == names::STREAM_CLOSED {
                &mut h.closed
            } else if name == names::STREAM_SEQ {
                &mut h.stream_seq
            } else if name == names::PRODUCER_ID {
                &mut h.producer_id
            } else if name == names::PRODUCER_EPOCH {
                &mut h.producer_epoch
            } else if name == names::PRODUCER_SEQ {
                &mut h.producer_seq
            } else {
                continue;
            };
            slot.get_or_insert(value);
        }
        h
    }
}

/// `POST`: append, close, or append-and-close.
pub async fn append(app: &App, path: &str, headers: &HeaderMap, body: Bytes) -> Reply {
    let stream = match app.store.get_for_append(path).await {
        Ok(s) => s,
        Err(e) => return store_error(&e),
    };
    let parsed = (|| {
        let found = AppendHeaders::scan(headers);
        let close = h::is_true(text(h::STREAM_CLOSED, found.closed)?);
        if body.is_empty() && !close {
            return Err(StoreError::bad(
                "empty body: an append needs bytes (or Stream-Closed: true to close)",
            ));
        }
        Ok(AppendRequest {
            content_type: text("content-type", found.content_type)?.map(str::to_string),
            body,
            close,
            producer: producer(found.producer_id, found.producer_epoch, found.producer_seq)?,
            stream_seq: text(h::STREAM_SEQ, found.stream_seq)?.map(str::to_string),
        })
    })();
    let req = match parsed {
        Ok(r) => r,
        Err(e) => return store_error(&e),
    };
    let has_producer = req.producer.is_some();
    let has_body = !req.body.is_empty();
    match app.store.append(&stream, req).await {
        Ok(a) => {
            let status = if has_producer && has_body && a.new_data {
                StatusCode::OK
            } else {
                StatusCode::NO_CONTENT
            };
            let mut r = Reply::new(status).offset(a.tail).flag(h::STREAM_CLOSED, a.closed);
            if let Some((epoch, seq)) = a.producer {
                r = r
                    .header(h::PRODUCER_EPOCH, epoch.to_string())
                    .header(h::PRODUCER_SEQ, seq.to_string());
            }
            r
        }
        Err(e) => store_error(&e),
    }
}

/// `DELETE`: remove a stream (soft when forks still read it).
pub async fn delete(app: &App, path: &str) -> Reply {
    match app.store.delete(path).await {
        Ok(()) => Reply::new(StatusCode::NO_CONTENT),
        Err(e) => store_error(&e),
    }
}
