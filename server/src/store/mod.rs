//! The protocol state machine over a storage engine: create, append, close, delete,
//! forks, producers, expiry. Engines only store bytes and make records durable.

mod backend;
mod engine;
mod error;
pub mod file;
mod memory;
pub mod postgres;
pub mod rules;
mod stream;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

pub use backend::Backend;
pub use engine::{
    Commit, Data, Engine, ForkMeta, OnDurable, Piece, ProducerStamp, ReadFuture, Record,
    StreamImage, StreamMeta,
};
pub use error::StoreError;
pub use memory::MemoryEngine;
pub use rules::{check_producer, Appended, ProducerCheck, ProducerState, WriterState};
pub use stream::{State, Stream, Visible};

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
#[derive(Clone, Debug, Default)]
pub struct AppendRequest {
    pub content_type: Option<String>,
    pub body: Bytes,
    pub close: bool,
    pub producer: Option<ProducerStamp>,
    pub stream_seq: Option<String>,
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
            let writer = WriterState {
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
            };
            let state = State { writer, removed: false, forks: 0 };
            let s = Arc::new(Stream::new(img.id, img.meta, source, data, state, now));
            s.set_trimmed(img.trimmed_before);
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
        let started = std::time::Instant::now();
        let result = self.engine.begin_checkpoint().and_then(|token| {
            let images: Vec<StreamImage> =
                self.snapshot_streams().iter().map(|s| s.image()).collect();
            let next_id = self.next_id.load(Ordering::SeqCst);
            self.engine.finish_checkpoint(token, next_id, images)
        });
        crate::metrics::checkpoint_done(started.elapsed(), result.is_ok());
        result
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
        if s.state.lock().writer.soft_deleted {
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
                    rules::matches_config(&s.meta, &s.state.lock().writer, &req)?;
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
            let st = &stream.state.lock().writer;
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
        let source = match &req.fork {
            Some(f) => Some(map.get(&f.source_path).cloned().ok_or(StoreError::NotFound)?),
            None => None,
        };
        let new = match &source {
            Some(src) => {
                let trimmed = src.trimmed_before();
                if let Some(off) = req.fork.as_ref().and_then(|f| f.offset) {
                    if off < trimmed {
                        return Err(StoreError::Trimmed { earliest: trimmed });
                    }
                }
                // The trim point is a message boundary, and the bytes before it are gone.
                let read = |a: u64, b: u64| {
                    if trimmed > 0 && b == trimmed && a + 1 == b {
                        Ok(Bytes::from_static(b"\n"))
                    } else {
                        src.read(a, b)
                    }
                };
                let view = rules::Source {
                    id: src.id,
                    meta: &src.meta,
                    soft_deleted: src.state.lock().writer.soft_deleted,
                    last_access_ms: src.last_access_ms.load(Ordering::Relaxed),
                    tail: src.visible().tail,
                    read: &read,
                };
                rules::plan_create(&req, Some(&view), now)?
            }
            None => rules::plan_create(&req, None, now)?,
        };
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let handle = self.engine.data(id)?;
        if !new.data.is_empty() {
            handle.write_at(0, &new.data).map_err(StoreError::from_data)?;
        }
        let writer = WriterState {
            tail: new.meta.base + new.data.len() as u64,
            closed: new.closed,
            ..WriterState::default()
        };
        let state = State { writer, ..State::default() };
        let base = new.meta.base;
        let stream =
            Arc::new(Stream::new(id, new.meta.clone(), source.clone(), handle, state, now));
        stream.visible.send_modify(|v| {
            v.tail = base;
            v.closed = false;
        });
        if let Some(src) = &source {
            src.state.lock().forks += 1;
        }
        map.insert(req.path, stream.clone());
        let record = Record::Create { id, meta: new.meta, data: new.data, closed: new.closed };
        Ok((stream, self.engine.submit(record)))
    }

    /// Appends (and optionally closes), deduplicating producer retries.
    pub async fn append(
        &self,
        stream: &Arc<Stream>,
        mut req: AppendRequest,
    ) -> Result<Appended, StoreError> {
        self.check_writable()?;
        let now = now_ms();
        let body_len = req.body.len();
        // Framing (JSON parsing) happens before the stream's lock is taken.
        let json = stream.is_json();
        let framed = rules::frame_body_as(json, &req.body, false);
        // Keep the framed bytes only: the raw JSON body is freed before storage copies them.
        if let (true, Ok(f)) = (json, &framed) {
            req.body = f.clone();
        }
        let (out, commit) = {
            let mut st = stream.state.lock();
            if st.removed {
                return Err(StoreError::NotFound);
            }
            match rules::plan_append(&st.writer, &stream.meta, &req, framed)? {
                rules::AppendPlan::Answer(out) => (out, self.engine.barrier()),
                rules::AppendPlan::Write { pos, data } => {
                    if !data.is_empty() {
                        let at = pos - stream.meta.base;
                        stream.data.write_at(at, &data).map_err(StoreError::from_data)?;
                    }
                    let out = rules::commit_append(&mut st.writer, &req, data.len() as u64);
                    // Live readers wake from the commit itself, not after this task runs.
                    let (s, tail, closed) = (stream.clone(), out.tail, out.closed);
                    let publish: OnDurable = Box::new(move || s.publish(tail, closed));
                    let record = Record::Append {
                        id: stream.id,
                        pos,
                        data,
                        closed: req.close,
                        producer: req.producer.clone(),
                        stream_seq: req.stream_seq.clone(),
                        at_ms: now,
                    };
                    (out, self.engine.submit_then(record, publish))
                }
            }
        };
        // The body is logged and buffered: free it before waiting for the log.
        drop(req);
        stream.touch(now);
        self.commit(commit).await?;
        // Already published by the commit when it wrote; a duplicate answers here.
        stream.publish(out.tail, out.closed);
        if out.new_data && body_len > 0 {
            crate::metrics::appended(body_len);
        }
        if let (true, Some(h)) = (out.new_data, self.hooks.get()) {
            h.appended(stream);
        }
        Ok(out)
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
            {
                let st = s.state.lock();
                rules::plan_delete(&st.writer, st.forks)?;
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

    /// Stops retaining `stream`'s bytes before `before` (a message boundary at most its
    /// durable tail): once the record is durable, reads there get 410 and the engine may
    /// free the space. Used by state compaction after a snapshot covers those bytes.
    pub async fn trim(&self, stream: &Arc<Stream>, before: u64) -> Result<(), StoreError> {
        self.check_writable()?;
        if before <= stream.trimmed_before() {
            return Ok(());
        }
        if before > stream.visible().tail {
            return Err(StoreError::bad("cannot trim past the stream's tail"));
        }
        let commit = self.engine.submit(Record::Trim { id: stream.id, before });
        self.commit(commit).await?;
        stream.set_trimmed(before);
        if before > stream.meta.base {
            if let Err(e) = stream.data.release_before(before - stream.meta.base) {
                tracing::warn!(id = stream.id, "freeing trimmed bytes failed (kept): {e}");
            }
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
                    s.data.discard();
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
            s.data.discard();
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
            if !matches!(rules::plan_delete(&st.writer, st.forks), Ok(rules::DeletePlan::Remove)) {
                if !st.writer.soft_deleted {
                    st.writer.soft_deleted = true;
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
            if !(st.writer.soft_deleted && st.forks == 0) || st.removed {
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

#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
