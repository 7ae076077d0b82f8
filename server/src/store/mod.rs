//! The protocol state machine over a storage engine: create, append, close, delete,
//! forks, producers, expiry. Engines only store bytes and make records durable.

mod engine;
mod error;
pub mod file;
mod memory;
mod stream;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

pub use engine::{Commit, Data, Engine, ForkMeta, ProducerStamp, Record, StreamImage, StreamMeta};
pub use error::StoreError;
pub use memory::MemoryEngine;
pub use stream::{check_producer, ProducerCheck, ProducerState, State, Stream, Visible};

/// Default content type of a stream created without one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// A create (`PUT`) request, parsed.
#[derive(Debug, Default)]
pub struct CreateRequest {
    pub path: String,
    pub content_type: Option<String>,
    pub ttl_secs: Option<u64>,
    pub expires_at_ms: Option<i64>,
    pub closed: bool,
    pub body: Bytes,
    pub fork: Option<ForkRequest>,
}

/// The fork part of a create request.
#[derive(Debug)]
pub struct ForkRequest {
    pub source_path: String,
    pub offset: Option<u64>,
    pub sub_offset: u64,
}

/// An append (`POST`) request, parsed.
#[derive(Debug, Default)]
pub struct AppendRequest {
    pub content_type: Option<String>,
    pub body: Bytes,
    pub close: bool,
    pub producer: Option<ProducerStamp>,
    pub stream_seq: Option<String>,
}

/// What an append did.
#[derive(Debug)]
pub struct Appended {
    pub tail: u64,
    pub closed: bool,
    /// False for an idempotent duplicate or a repeated close.
    pub new_data: bool,
    /// `(epoch, highest accepted seq)` to echo to a producer.
    pub producer: Option<(u64, u64)>,
}

/// Observes committed stream changes (subscriptions link streams and wake on them).
///
/// Called after the change is durable and visible to readers, with no store lock held, and
/// before the request is answered: a stream's creation is seen before any append to it can
/// be acknowledged. Implementations must be quick and must not call back into the store.
pub trait Hooks: Send + Sync {
    /// A new stream (not an idempotent re-creation).
    fn created(&self, stream: &Arc<Stream>);
    /// New bytes were appended.
    fn appended(&self, stream: &Arc<Stream>);
    /// The stream at `path` was deleted or expired.
    fn removed(&self, path: &str);
}

/// The store of all streams.
pub struct Store {
    engine: Arc<dyn Engine>,
    streams: RwLock<HashMap<String, Arc<Stream>>>,
    next_id: AtomicU64,
    failed: AtomicBool,
    checkpointing: Mutex<()>,
    hooks: OnceLock<Arc<dyn Hooks>>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn same_media(a: &str, b: &str) -> bool {
    durastream::json::media_type(a).eq_ignore_ascii_case(durastream::json::media_type(b))
}

impl Store {
    /// Builds the store over `engine` from recovered streams.
    pub fn open(engine: Arc<dyn Engine>, mut recovered: Vec<StreamImage>, next_id: u64) -> Store {
        // Ids grow, so every source comes before its forks.
        recovered.sort_by_key(|r| r.id);
        let mut by_id: HashMap<u64, Arc<Stream>> = HashMap::new();
        let mut map = HashMap::new();
        let now = now_ms();
        for img in recovered {
            let source = img.meta.fork.as_ref().and_then(|f| by_id.get(&f.source_id).cloned());
            if let Some(src) = &source {
                src.state.lock().forks += 1;
            }
            let data = match engine.data(img.id) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(id = img.id, "cannot open stream data: {e}");
                    continue;
                }
            };
            let state = State {
                tail: img.tail,
                closed: img.closed,
                closed_by: img.closed_by,
                stream_seq: img.stream_seq,
                producers: img
                    .producers
                    .into_iter()
                    .map(|p| (p.id, ProducerState { epoch: p.epoch, last_seq: p.seq }))
                    .collect(),
                soft_deleted: img.soft_deleted,
                removed: false,
                forks: 0,
            };
            let s = Arc::new(Stream::new(img.id, img.meta, source, data, state, now));
            // A sliding TTL counts from the later of the last logged access and the restart:
            // reads are not logged, so a restart never expires a stream early.
            s.touch(img.last_access_ms.max(now));
            by_id.insert(img.id, s.clone());
            map.insert(s.meta.path.clone(), s);
        }
        Store {
            engine,
            streams: RwLock::new(map),
            next_id: AtomicU64::new(next_id),
            failed: AtomicBool::new(false),
            checkpointing: Mutex::new(()),
            hooks: OnceLock::new(),
        }
    }

    /// Installs the change observer (once; later calls are ignored).
    pub fn set_hooks(&self, hooks: Arc<dyn Hooks>) {
        let _ = self.hooks.set(hooks);
    }

    /// Writes a checkpoint so the log can be trimmed (blocking; run off the async threads).
    pub fn checkpoint(&self) -> std::io::Result<()> {
        let _one = self.checkpointing.lock();
        let token = self.engine.begin_checkpoint()?;
        let images: Vec<StreamImage> = self.snapshot_streams().iter().map(|s| s.image()).collect();
        let next_id = self.next_id.load(Ordering::SeqCst);
        self.engine.finish_checkpoint(token, next_id, images)
    }

    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// Number of streams (including soft-deleted ones).
    pub fn len(&self) -> usize {
        self.streams.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    async fn commit(&self, c: Commit) -> Result<(), StoreError> {
        match c.await {
            Ok(()) => Ok(()),
            Err(e) => {
                // Durability is unknown after a failed write or sync: stop accepting writes.
                self.failed.store(true, Ordering::SeqCst);
                tracing::error!("storage commit failed: {e}");
                Err(StoreError::Io(e))
            }
        }
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.failed.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable)
        } else {
            Ok(())
        }
    }

    /// Finds a live stream for a client operation: 404 when missing or expired, 410 when
    /// soft-deleted.
    pub fn get(&self, path: &str) -> Result<Arc<Stream>, StoreError> {
        let s = self.streams.read().get(path).cloned().ok_or(StoreError::NotFound)?;
        if s.expired(now_ms()) {
            self.expire(&s);
            return Err(StoreError::NotFound);
        }
        if s.state.lock().soft_deleted {
            return Err(StoreError::Gone);
        }
        Ok(s)
    }

    /// Creates a stream, or confirms an identical one (`Ok((stream, false))`).
    pub async fn create(&self, req: CreateRequest) -> Result<(Arc<Stream>, bool), StoreError> {
        self.check_writable()?;
        let now = now_ms();
        let mut removed = Vec::new();
        let (stream, created, commit) = {
            let mut map = self.streams.write();
            let existing = map.get(&req.path).cloned();
            match existing {
                Some(s) if !s.expired(now) => {
                    let st = s.state.lock();
                    if st.soft_deleted {
                        return Err(StoreError::conflict(
                            "a deleted stream at this path is still referenced by forks",
                        ));
                    }
                    matches_config(&s, &req, st.closed)?;
                    drop(st);
                    (s, false, self.engine.barrier())
                }
                other => {
                    if let Some(old) = other {
                        removed = self.remove_locked(&mut map, &old);
                    }
                    let (s, c) = self.create_locked(&mut map, req, now)?;
                    (s, true, c)
                }
            }
        };
        self.commit(commit).await?;
        self.finish_removal(removed);
        let (tail, closed) = {
            let st = stream.state.lock();
            (st.tail, st.closed)
        };
        stream.publish(tail, closed);
        if let (true, Some(h)) = (created, self.hooks.get()) {
            h.created(&stream);
        }
        Ok((stream, created))
    }

    fn create_locked(
        &self,
        map: &mut HashMap<String, Arc<Stream>>,
        req: CreateRequest,
        now: i64,
    ) -> Result<(Arc<Stream>, Commit), StoreError> {
        let mut content_type = req.content_type.clone();
        let (mut ttl, mut expires) = (req.ttl_secs, req.expires_at_ms);
        let mut base = 0;
        let mut source = None;
        let mut fork_meta = None;
        if let Some(f) = &req.fork {
            let src = map.get(&f.source_path).cloned().ok_or(StoreError::NotFound)?;
            if src.expired(now) {
                return Err(StoreError::NotFound);
            }
            if src.state.lock().soft_deleted {
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
            base = fork_point(&src, f)?;
            fork_meta = Some(ForkMeta {
                source_id: src.id,
                source_path: f.source_path.clone(),
                requested_offset: f.offset,
                sub_offset: f.sub_offset,
            });
            source = Some(src);
        }
        let content_type = content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string());
        let data = if durastream::json::is_json(&content_type) {
            if req.body.is_empty() {
                Bytes::new()
            } else {
                let (framed, _) = durastream::json::frame_messages(&req.body, true)
                    .map_err(|e| StoreError::bad(e.to_string()))?;
                Bytes::from(framed)
            }
        } else {
            req.body.clone()
        };
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let meta = StreamMeta {
            path: req.path.clone(),
            content_type,
            ttl_secs: ttl,
            expires_at_ms: expires,
            requested_ttl_secs: req.ttl_secs,
            requested_expires_at_ms: req.expires_at_ms,
            base,
            fork: fork_meta,
            created_ms: now,
        };
        let handle = self.engine.data(id)?;
        if !data.is_empty() {
            handle.write_at(0, &data)?;
        }
        let state =
            State { tail: base + data.len() as u64, closed: req.closed, ..State::default() };
        let stream = Arc::new(Stream::new(id, meta.clone(), source.clone(), handle, state, now));
        stream.visible.send_modify(|v| {
            v.tail = base;
            v.closed = false;
        });
        if let Some(src) = &source {
            src.state.lock().forks += 1;
        }
        map.insert(req.path, stream.clone());
        let commit = self.engine.submit(Record::Create { id, meta, data, closed: req.closed });
        Ok((stream, commit))
    }

    /// Appends (and optionally closes), deduplicating producer retries.
    pub async fn append(
        &self,
        stream: &Arc<Stream>,
        req: AppendRequest,
    ) -> Result<Appended, StoreError> {
        self.check_writable()?;
        let now = now_ms();
        let framed = if req.body.is_empty() {
            Ok(Bytes::new())
        } else if stream.is_json() {
            durastream::json::frame_messages(&req.body, false)
                .map(|(b, _)| Bytes::from(b))
                .map_err(|e| StoreError::bad(e.to_string()))
        } else {
            Ok(req.body.clone())
        };
        let (out, commit) = {
            let mut st = stream.state.lock();
            if st.removed {
                return Err(StoreError::NotFound);
            }
            if st.soft_deleted {
                return Err(StoreError::Gone);
            }
            if let Some(p) = &req.producer {
                if let ProducerCheck::StaleEpoch { current } =
                    check_producer(st.producers.get(&p.id), p)
                {
                    return Err(StoreError::StaleEpoch { current });
                }
            }
            if st.closed {
                // A producer retrying any request that was accepted (the closing one or an
                // earlier one) gets its idempotent success, so retries never see a false error.
                let dup = req.producer.as_ref().is_some_and(|p| {
                    st.closed_by.as_ref() == Some(p)
                        || matches!(
                            check_producer(st.producers.get(&p.id), p),
                            ProducerCheck::Duplicate { .. }
                        )
                });
                if dup || (req.body.is_empty() && req.close && req.producer.is_none()) {
                    let echo = req.producer.as_ref().map(|p| (p.epoch, p.seq));
                    let out =
                        Appended { tail: st.tail, closed: true, new_data: false, producer: echo };
                    (out, self.engine.barrier())
                } else {
                    return Err(StoreError::Closed { tail: st.tail });
                }
            } else {
                self.append_locked(stream, &mut st, req, framed, now)?
            }
        };
        stream.touch(now);
        self.commit(commit).await?;
        stream.publish(out.tail, out.closed);
        if let (true, Some(h)) = (out.new_data, self.hooks.get()) {
            h.appended(stream);
        }
        Ok(out)
    }

    fn append_locked(
        &self,
        stream: &Stream,
        st: &mut State,
        req: AppendRequest,
        framed: Result<Bytes, StoreError>,
        now: i64,
    ) -> Result<(Appended, Commit), StoreError> {
        {
            let check = req.producer.as_ref().map(|p| check_producer(st.producers.get(&p.id), p));
            if !req.body.is_empty() {
                match &req.content_type {
                    None => return Err(StoreError::bad("Content-Type is required with a body")),
                    Some(ct) if !same_media(ct, &stream.meta.content_type) => {
                        return Err(StoreError::conflict(format!(
                            "content type {ct} does not match the stream's {}",
                            stream.meta.content_type
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
                    return Ok((out, self.engine.barrier()));
                }
                Some(ProducerCheck::EpochNeedsSeqZero) => {
                    return Err(StoreError::bad(
                        "a new producer epoch must start at Producer-Seq 0",
                    ))
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
            let pos = st.tail;
            if !data.is_empty() {
                stream.data.write_at(pos - stream.meta.base, &data)?;
            }
            st.tail += data.len() as u64;
            if req.close {
                st.closed = true;
                st.closed_by = req.producer.clone();
            }
            if let Some(p) = &req.producer {
                st.producers
                    .insert(p.id.clone(), ProducerState { epoch: p.epoch, last_seq: p.seq });
            }
            if req.stream_seq.is_some() {
                st.stream_seq = req.stream_seq.clone();
            }
            let commit = self.engine.submit(Record::Append {
                id: stream.id,
                pos,
                data,
                closed: req.close,
                producer: req.producer.clone(),
                stream_seq: req.stream_seq.clone(),
                at_ms: now,
            });
            let echo = req.producer.as_ref().map(|p| (p.epoch, p.seq));
            Ok((
                Appended { tail: st.tail, closed: st.closed, new_data: true, producer: echo },
                commit,
            ))
        }
    }

    /// Deletes a stream: soft when forks still read it, with cascading clean-up.
    pub async fn delete(&self, path: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        let (commit, removed) = {
            let mut map = self.streams.write();
            let s = map.get(path).cloned().ok_or(StoreError::NotFound)?;
            if s.expired(now_ms()) {
                let removed = self.remove_locked(&mut map, &s);
                drop(map);
                self.finish_removal(removed);
                return Err(StoreError::NotFound);
            }
            if s.state.lock().soft_deleted {
                return Err(StoreError::Gone);
            }
            let removed = self.remove_locked(&mut map, &s);
            (self.engine.barrier(), removed)
        };
        self.commit(commit).await?;
        self.finish_removal(removed);
        if let Some(h) = self.hooks.get() {
            h.removed(path);
        }
        Ok(())
    }

    /// Expires a stream (TTL or absolute expiry passed), like a delete.
    fn expire(&self, s: &Arc<Stream>) {
        let removed = {
            let mut map = self.streams.write();
            match map.get(&s.meta.path) {
                Some(cur) if Arc::ptr_eq(cur, s) => self.remove_locked(&mut map, s),
                _ => return,
            }
        };
        let commit = self.engine.barrier();
        let engine = self.engine.clone();
        // The records are submitted; files are removed once they are durable.
        tokio::spawn(async move {
            if commit.await.is_ok() {
                for s in removed {
                    engine.remove(s.id);
                }
            }
        });
        if let Some(h) = self.hooks.get() {
            h.removed(&s.meta.path);
        }
    }

    fn finish_removal(&self, removed: Vec<Arc<Stream>>) {
        for s in removed {
            self.engine.remove(s.id);
        }
    }

    /// Deletes `s` under the map lock; soft-deletes it if forks remain. Cascades to sources
    /// that were soft-deleted and lose their last fork. Returns the streams fully removed.
    fn remove_locked(
        &self,
        map: &mut HashMap<String, Arc<Stream>>,
        s: &Arc<Stream>,
    ) -> Vec<Arc<Stream>> {
        let mut removed = Vec::new();
        {
            let mut st = s.state.lock();
            if st.forks > 0 {
                if !st.soft_deleted {
                    st.soft_deleted = true;
                    drop(st);
                    drop(self.engine.submit(Record::SoftDelete { id: s.id }));
                    s.mark_gone();
                }
                return removed;
            }
            st.removed = true;
        }
        if map.get(&s.meta.path).is_some_and(|cur| Arc::ptr_eq(cur, s)) {
            map.remove(&s.meta.path);
        }
        drop(self.engine.submit(Record::Delete { id: s.id }));
        s.mark_gone();
        removed.push(s.clone());
        let mut next = s.source.clone();
        while let Some(src) = next {
            let mut st = src.state.lock();
            st.forks = st.forks.saturating_sub(1);
            if !(st.soft_deleted && st.forks == 0) || st.removed {
                break;
            }
            st.removed = true;
            drop(st);
            if map.get(&src.meta.path).is_some_and(|cur| Arc::ptr_eq(cur, &src)) {
                map.remove(&src.meta.path);
            }
            drop(self.engine.submit(Record::Delete { id: src.id }));
            removed.push(src.clone());
            next = src.source.clone();
        }
        removed
    }

    /// Removes every expired stream; run periodically.
    pub fn sweep_expired(&self) {
        let now = now_ms();
        let expired: Vec<Arc<Stream>> =
            self.streams.read().values().filter(|s| s.expired(now)).cloned().collect();
        for s in expired {
            self.expire(&s);
        }
    }

    /// All streams, for checkpoints.
    pub fn snapshot_streams(&self) -> Vec<Arc<Stream>> {
        self.streams.read().values().cloned().collect()
    }
}

/// Checks an existing stream against a create request (idempotent `PUT`).
fn matches_config(s: &Stream, req: &CreateRequest, closed: bool) -> Result<(), StoreError> {
    let m = &s.meta;
    if let Some(ct) = &req.content_type {
        if !same_media(ct, &m.content_type) {
            return Err(StoreError::conflict("stream exists with a different content type"));
        }
    } else if m.fork.is_none() && !same_media(DEFAULT_CONTENT_TYPE, &m.content_type) {
        return Err(StoreError::conflict("stream exists with a different content type"));
    }
    if req.ttl_secs != m.requested_ttl_secs || req.expires_at_ms != m.requested_expires_at_ms {
        return Err(StoreError::conflict("stream exists with a different TTL or expiry"));
    }
    if req.closed != closed {
        return Err(StoreError::conflict("stream exists with a different closed state"));
    }
    let fork_matches = match (&req.fork, &m.fork) {
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

/// Resolves a fork's `(offset, sub-offset)` to a position in the source.
fn fork_point(src: &Stream, f: &ForkRequest) -> Result<u64, StoreError> {
    let tail = src.visible().tail;
    let anchor = f.offset.unwrap_or(tail);
    if anchor > tail {
        return Err(StoreError::bad("Stream-Fork-Offset is beyond the source stream's tail"));
    }
    if f.sub_offset == 0 {
        return Ok(anchor);
    }
    if src.is_json() {
        let mut pos = anchor;
        let mut left = f.sub_offset;
        while left > 0 {
            let end = tail.min(pos + 64 * 1024);
            if end == pos {
                return Err(StoreError::bad(
                    "Stream-Fork-Sub-Offset is past the source's last message",
                ));
            }
            let chunk = src.read(pos, end)?;
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

#[cfg(test)]
mod tests;
