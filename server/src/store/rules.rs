//! The protocol's rules for one stream, written once as functions over its state.
//!
//! Every engine applies these same functions and decides nothing itself: the file and
//! memory engines call them in memory under the stream's lock; a shared database calls
//! them inside the transaction that holds the stream's row. Planning functions only read
//! the state; the engine stores what they return, then applies the matching `commit_*`.

use std::collections::HashMap;
use std::io;

use bytes::Bytes;

use super::engine::{ForkMeta, ProducerStamp, StreamMeta};
use super::error::StoreError;
use super::{AppendRequest, CreateRequest, ForkRequest, DEFAULT_CONTENT_TYPE};

/// A producer's last accepted position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerState {
    pub epoch: u64,
    pub last_seq: u64,
}

/// The state the rules read and change: what a checkpoint or a database row holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriterState {
    /// Tail including appends not yet durable.
    pub tail: u64,
    pub closed: bool,
    /// The producer request that closed the stream, for deduplicating its retries.
    pub closed_by: Option<ProducerStamp>,
    pub stream_seq: Option<String>,
    pub producers: HashMap<String, ProducerState>,
    pub soft_deleted: bool,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub tail: u64,
    pub closed: bool,
    /// False for an idempotent duplicate or a repeated close.
    pub new_data: bool,
    /// `(epoch, highest accepted seq)` to echo to a producer.
    pub producer: Option<(u64, u64)>,
}

/// The outcome of checking a producer stamp against the stream's producer state.
#[derive(Debug, PartialEq, Eq)]
pub enum ProducerCheck {
    /// Next in sequence (or a new epoch): append it.
    Accept,
    /// Already appended; `last_seq` is the highest accepted sequence.
    Duplicate { last_seq: u64 },
    /// The producer was fenced by a newer epoch.
    StaleEpoch { current: u64 },
    /// A new epoch must start at sequence 0.
    EpochNeedsSeqZero,
    /// Requests were lost between the last accepted one and this one.
    Gap { expected: u64, received: u64 },
}

/// Validates a producer stamp (spec section 5.2.1).
pub fn check_producer(state: Option<&ProducerState>, stamp: &ProducerStamp) -> ProducerCheck {
    let Some(st) = state else {
        return if stamp.seq == 0 {
            ProducerCheck::Accept
        } else if stamp.epoch > 0 {
            ProducerCheck::EpochNeedsSeqZero
        } else {
            ProducerCheck::Gap { expected: 0, received: stamp.seq }
        };
    };
    if stamp.epoch < st.epoch {
        return ProducerCheck::StaleEpoch { current: st.epoch };
    }
    if stamp.epoch > st.epoch {
        return if stamp.seq == 0 {
            ProducerCheck::Accept
        } else {
            ProducerCheck::EpochNeedsSeqZero
        };
    }
    if stamp.seq <= st.last_seq {
        ProducerCheck::Duplicate { last_seq: st.last_seq }
    } else if stamp.seq == st.last_seq + 1 {
        ProducerCheck::Accept
    } else {
        ProducerCheck::Gap { expected: st.last_seq + 1, received: stamp.seq }
    }
}

/// True when two content types name the same media type.
pub fn same_media(a: &str, b: &str) -> bool {
    // The same text (an append repeating its stream's type) needs no parsing.
    a == b || durastream::json::media_type(a).eq_ignore_ascii_case(durastream::json::media_type(b))
}

/// True once a stream's TTL (counted from `last_access_ms`) or absolute expiry has passed.
pub fn expired(meta: &StreamMeta, last_access_ms: i64, now_ms: i64) -> bool {
    if meta.expires_at_ms.is_some_and(|t| t <= now_ms) {
        return true;
    }
    meta.ttl_secs.is_some_and(|ttl| {
        let ttl_ms = i64::try_from(ttl.saturating_mul(1000)).unwrap_or(i64::MAX);
        last_access_ms.saturating_add(ttl_ms) <= now_ms
    })
}

/// The bytes a stream stores for a request body: JSON bodies are framed into messages
/// (an array is flattened one level); other bodies are stored as they are.
pub fn frame_body(content_type: &str, body: &Bytes, create: bool) -> Result<Bytes, StoreError> {
    frame_body_as(durastream::json::is_json(content_type), body, create)
}

/// [`frame_body`] for a stream whose JSON-ness is already known.
pub fn frame_body_as(json: bool, body: &Bytes, create: bool) -> Result<Bytes, StoreError> {
    if body.is_empty() {
        Ok(Bytes::new())
    } else if json {
        durastream::json::frame_messages(body, create)
            .map(|(b, _)| Bytes::from(b))
            .map_err(|e| StoreError::bad(e.to_string()))
    } else {
        Ok(body.clone())
    }
}

/// What an append must do.
#[derive(Debug)]
pub enum AppendPlan {
    /// Nothing to store (an idempotent duplicate or a repeated close): answer this.
    Answer(Appended),
    /// Store `data` at `pos`, then apply [`commit_append`].
    Write { pos: u64, data: Bytes },
}

/// Decides an append (spec section 5.2). `framed` is the body framed by [`frame_body`]
/// (done before taking any lock; its error only counts when the append would store it).
pub fn plan_append(
    st: &WriterState,
    meta: &StreamMeta,
    req: &AppendRequest,
    framed: Result<Bytes, StoreError>,
) -> Result<AppendPlan, StoreError> {
    if st.soft_deleted {
        return Err(StoreError::Gone);
    }
    let check = req.producer.as_ref().map(|p| check_producer(st.producers.get(&p.id), p));
    if let Some(ProducerCheck::StaleEpoch { current }) = check {
        return Err(StoreError::StaleEpoch { current });
    }
    let echo = req.producer.as_ref().map(|p| (p.epoch, p.seq));
    if st.closed {
        // A producer retrying any request that was accepted (the closing one or an earlier
        // one) gets its idempotent success, so retries never see a false error.
        let dup = req.producer.as_ref().is_some_and(|p| {
            st.closed_by.as_ref() == Some(p)
                || matches!(check, Some(ProducerCheck::Duplicate { .. }))
        });
        if dup || (req.body.is_empty() && req.close && req.producer.is_none()) {
            let out = Appended { tail: st.tail, closed: true, new_data: false, producer: echo };
            return Ok(AppendPlan::Answer(out));
        }
        return Err(StoreError::Closed { tail: st.tail });
    }
    if !req.body.is_empty() {
        match &req.content_type {
            None => return Err(StoreError::bad("Content-Type is required with a body")),
            Some(ct) if !same_media(ct, &meta.content_type) => {
                return Err(StoreError::conflict(format!(
                    "content type {ct} does not match the stream's {}",
                    meta.content_type
                )))
            }
            _ => {}
        }
    }
    let data = framed?;
    match check {
        Some(ProducerCheck::Duplicate { last_seq }) => {
            let epoch = req.producer.as_ref().map_or(0, |p| p.epoch);
            let out = Appended {
                tail: st.tail,
                closed: st.closed,
                new_data: false,
                producer: Some((epoch, last_seq)),
            };
            return Ok(AppendPlan::Answer(out));
        }
        Some(ProducerCheck::EpochNeedsSeqZero) => {
            return Err(StoreError::bad("a new producer epoch must start at Producer-Seq 0"))
        }
        Some(ProducerCheck::Gap { expected, received }) => {
            return Err(StoreError::SequenceGap { expected, received })
        }
        _ => {}
    }
    if let (Some(seq), Some(last)) = (&req.stream_seq, &st.stream_seq) {
        if seq.as_bytes() <= last.as_bytes() {
            return Err(StoreError::conflict(format!(
                "sequence conflict: Stream-Seq {seq:?} is not greater than the last one, {last:?}"
            )));
        }
    }
    Ok(AppendPlan::Write { pos: st.tail, data })
}

/// Applies an append whose `len` bytes were stored at the tail: the new tail, closure,
/// producer position and `Stream-Seq`.
pub fn commit_append(st: &mut WriterState, req: &AppendRequest, len: u64) -> Appended {
    st.tail += len;
    if req.close {
        st.closed = true;
        st.closed_by = req.producer.clone();
    }
    if let Some(p) = &req.producer {
        st.producers.insert(p.id.clone(), ProducerState { epoch: p.epoch, last_seq: p.seq });
    }
    if req.stream_seq.is_some() {
        st.stream_seq = req.stream_seq.clone();
    }
    Appended {
        tail: st.tail,
        closed: st.closed,
        new_data: true,
        producer: req.producer.as_ref().map(|p| (p.epoch, p.seq)),
    }
}

/// Checks an existing stream against a create request (idempotent `PUT`).
pub fn matches_config(
    meta: &StreamMeta,
    st: &WriterState,
    req: &CreateRequest,
) -> Result<(), StoreError> {
    if st.soft_deleted {
        return Err(StoreError::conflict(
            "a deleted stream at this path is still referenced by forks",
        ));
    }
    if let Some(ct) = &req.content_type {
        if !same_media(ct, &meta.content_type) {
            return Err(StoreError::conflict("stream exists with a different content type"));
        }
    } else if meta.fork.is_none() && !same_media(DEFAULT_CONTENT_TYPE, &meta.content_type) {
        return Err(StoreError::conflict("stream exists with a different content type"));
    }
    if req.ttl_secs != meta.requested_ttl_secs || req.expires_at_ms != meta.requested_expires_at_ms
    {
        return Err(StoreError::conflict("stream exists with a different TTL or expiry"));
    }
    if req.closed != st.closed {
        return Err(StoreError::conflict("stream exists with a different closed state"));
    }
    let fork_matches = match (&req.fork, &meta.fork) {
        (None, None) => true,
        (Some(r), Some(f)) => {
            r.source_path == f.source_path
                && r.offset == f.requested_offset
                && r.sub_offset == f.sub_offset
        }
        _ => false,
    };
    if !fork_matches {
        return Err(StoreError::conflict("stream exists with a different fork source or offset"));
    }
    Ok(())
}

/// A fork source as the rules see it.
pub struct Source<'a> {
    pub id: u64,
    pub meta: &'a StreamMeta,
    pub soft_deleted: bool,
    /// Last read or write, Unix milliseconds (the sliding TTL counts from it).
    pub last_access_ms: i64,
    /// The source's durable tail.
    pub tail: u64,
    /// Reads the source's bytes in `[pos, end)`.
    pub read: &'a dyn Fn(u64, u64) -> io::Result<Bytes>,
}

/// A stream to be created: its metadata and initial bytes (the engine assigns its id).
#[derive(Debug)]
pub struct NewStream {
    pub meta: StreamMeta,
    pub data: Bytes,
    pub closed: bool,
}

/// Decides a new stream (spec section 4.1, forks in 4.6): content type and expiry
/// inherited from a fork source, the fork point, the framed initial body.
pub fn plan_create(
    req: &CreateRequest,
    source: Option<&Source>,
    now_ms: i64,
) -> Result<NewStream, StoreError> {
    let mut content_type = req.content_type.clone();
    let (mut ttl, mut expires) = (req.ttl_secs, req.expires_at_ms);
    let mut base = 0;
    let mut fork = None;
    if let Some(f) = &req.fork {
        let src = source.ok_or(StoreError::NotFound)?;
        if expired(src.meta, src.last_access_ms, now_ms) {
            return Err(StoreError::NotFound);
        }
        if src.soft_deleted {
            return Err(StoreError::conflict("fork source was deleted"));
        }
        match &content_type {
            Some(ct) if !same_media(ct, &src.meta.content_type) => {
                return Err(StoreError::conflict(format!(
                    "content type {ct} differs from the source's {}",
                    src.meta.content_type
                )))
            }
            _ => content_type = Some(src.meta.content_type.clone()),
        }
        if ttl.is_none() && expires.is_none() {
            ttl = src.meta.ttl_secs;
            expires = src.meta.expires_at_ms;
        }
        base = fork_point(src, f)?;
        fork = Some(ForkMeta {
            source_id: src.id,
            source_path: f.source_path.clone(),
            requested_offset: f.offset,
            sub_offset: f.sub_offset,
        });
    }
    let content_type = content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string());
    let data = frame_body(&content_type, &req.body, true)?;
    let meta = StreamMeta {
        path: req.path.clone(),
        content_type,
        ttl_secs: ttl,
        expires_at_ms: expires,
        requested_ttl_secs: req.ttl_secs,
        requested_expires_at_ms: req.expires_at_ms,
        base,
        fork,
        created_ms: now_ms,
    };
    Ok(NewStream { meta, data, closed: req.closed })
}

/// Checks that `pos` (at most `tail`) is a message boundary of a JSON stream: the start,
/// the tail, or just after a stored message's closing newline. Other streams have no
/// messages; every position is a boundary. `what` names the offset in the error.
pub fn check_boundary(
    content_type: &str,
    pos: u64,
    tail: u64,
    read: &dyn Fn(u64, u64) -> io::Result<Bytes>,
    what: &str,
) -> Result<(), StoreError> {
    if !durastream::json::is_json(content_type) || pos == 0 || pos >= tail {
        return Ok(());
    }
    if read(pos - 1, pos)?.as_ref() == b"\n" {
        return Ok(());
    }
    Err(StoreError::bad(format!(
        "{what} {} is inside a message of this JSON stream; use an offset the server returned",
        durastream::Offset(pos)
    )))
}

/// Resolves a fork's `(offset, sub-offset)` to a position in the source.
pub fn fork_point(src: &Source, f: &ForkRequest) -> Result<u64, StoreError> {
    let tail = src.tail;
    let anchor = f.offset.unwrap_or(tail);
    if anchor > tail {
        return Err(StoreError::bad("Stream-Fork-Offset is beyond the source stream's tail"));
    }
    check_boundary(&src.meta.content_type, anchor, tail, src.read, "Stream-Fork-Offset")?;
    if f.sub_offset == 0 {
        return Ok(anchor);
    }
    if durastream::json::is_json(&src.meta.content_type) {
        let mut pos = anchor;
        let mut left = f.sub_offset;
        while left > 0 {
            let end = tail.min(pos + 64 * 1024);
            if end == pos {
                return Err(StoreError::bad(
                    "Stream-Fork-Sub-Offset is past the source's last message",
                ));
            }
            let chunk = (src.read)(pos, end)?;
            let mut used = 0;
            for i in memchr::memchr_iter(b'\n', &chunk) {
                used = i + 1;
                left -= 1;
                if left == 0 {
                    break;
                }
            }
            if used == 0 && end == tail {
                return Err(StoreError::bad(
                    "Stream-Fork-Sub-Offset is past the source's last message",
                ));
            }
            pos += if left == 0 { used as u64 } else { chunk.len() as u64 };
        }
        Ok(pos)
    } else {
        anchor
            .checked_add(f.sub_offset)
            .filter(|p| *p <= tail)
            .ok_or_else(|| StoreError::bad("Stream-Fork-Sub-Offset is past the source's tail"))
    }
}

/// What a delete must do.
#[derive(Debug, PartialEq, Eq)]
pub enum DeletePlan {
    /// Forks still read the stream: hide it, keep its data.
    Soft,
    /// Remove it for good.
    Remove,
}

/// Decides a delete (spec section 4.4; forks in 4.6): soft while `forks` read it.
pub fn plan_delete(st: &WriterState, forks: u32) -> Result<DeletePlan, StoreError> {
    if st.soft_deleted {
        Err(StoreError::Gone)
    } else if forks > 0 {
        Ok(DeletePlan::Soft)
    } else {
        Ok(DeletePlan::Remove)
    }
}

#[cfg(test)]
mod tests;
