//! The storage engine boundary: what the protocol layer asks of durable storage.
//!
//! The protocol state machine (`Store`) is shared by every engine. An engine stores each
//! stream's bytes ([`Data`]) and makes [`Record`]s durable, resolving a [`Commit`] once the
//! record survives the configured failure (process crash or power loss).

use std::future::Future;
use std::io;
use std::pin::Pin;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Resolves when a submitted record (and everything submitted before it) is durable.
pub type Commit = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

/// A read of stream bytes in progress.
pub type ReadFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Bytes>> + Send + 'a>>;

/// A piece of a read: bytes in memory, or a range of a stream's data file that a response
/// can send straight from the page cache (`sendfile`).
pub enum Piece {
    Mem(Bytes),
    File { file: std::sync::Arc<std::fs::File>, at: u64, len: usize },
}

impl Piece {
    pub fn len(&self) -> usize {
        match self {
            Piece::Mem(b) => b.len(),
            Piece::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Work run once a record is durable, before its writer is answered (publishing the new
/// tail to live readers). Must be quick and must not block.
pub type OnDurable = Box<dyn FnOnce() + Send>;

/// Immutable facts about a stream, fixed at creation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamMeta {
    /// The stream's URL path, its identity on the wire.
    pub path: String,
    pub content_type: String,
    /// Effective sliding TTL in seconds.
    pub ttl_secs: Option<u64>,
    /// Effective absolute expiry, Unix milliseconds.
    pub expires_at_ms: Option<i64>,
    /// TTL and expiry as the creating request stated them (for idempotent re-creation).
    pub requested_ttl_secs: Option<u64>,
    pub requested_expires_at_ms: Option<i64>,
    /// First position held in this stream's own data (the fork point; 0 otherwise).
    pub base: u64,
    pub fork: Option<ForkMeta>,
    pub created_ms: i64,
}

/// Where a fork branches from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ForkMeta {
    pub source_id: u64,
    pub source_path: String,
    /// `Stream-Fork-Offset` as requested (None: the source's tail at creation).
    pub requested_offset: Option<u64>,
    pub sub_offset: u64,
}

/// A producer's identity and position, as stamped on an append.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct ProducerStamp {
    pub id: String,
    pub epoch: u64,
    pub seq: u64,
}

/// A durable change. Each one carries every fact it changes, so the stream's data, its
/// closure and its producer state are committed together (never one without the other).
#[derive(Clone, Debug)]
pub enum Record {
    /// A new stream with its initial bytes.
    Create { id: u64, meta: StreamMeta, data: Bytes, closed: bool },
    /// Bytes appended at `pos` (possibly none, for a close), with the writer state they set.
    Append {
        id: u64,
        pos: u64,
        data: Bytes,
        closed: bool,
        producer: Option<ProducerStamp>,
        stream_seq: Option<String>,
        at_ms: i64,
    },
    /// Deleted while forks still read it: hidden but kept.
    SoftDelete { id: u64 },
    /// Gone for good.
    Delete { id: u64 },
    /// Bytes before position `before` are no longer retained (reads there get 410).
    Trim { id: u64, before: u64 },
}

/// A stream's own bytes, addressed from 0 (= the stream's `base` position).
pub trait Data: Send + Sync {
    /// Writes `buf` at `at`. Writes arrive in order and never leave holes.
    fn write_at(&self, at: u64, buf: &[u8]) -> io::Result<()>;
    /// Reads `len` bytes at `at`; the range was written before.
    fn read_at(&self, at: u64, len: usize) -> io::Result<Bytes>;
    /// [`Data::read_at`] without blocking the async worker. Engines whose reads are local
    /// (page cache, memory) answer in place; a database awaits its query.
    fn read_at_async(&self, at: u64, len: usize) -> ReadFuture<'_> {
        Box::pin(std::future::ready(self.read_at(at, len)))
    }
    /// [`Data::read_at`] as pieces that name the data file where the bytes are in one,
    /// pushed to `out`; `Ok(false)` (the default) when this engine has no such file.
    fn read_pieces(&self, _at: u64, _len: usize, _out: &mut Vec<Piece>) -> io::Result<bool> {
        Ok(false)
    }
    /// Drops buffered bytes of a removed stream and stops further writes.
    fn discard(&self) {}
    /// Frees the space of bytes before `at` (never read again), where the engine can.
    fn release_before(&self, _at: u64) -> io::Result<()> {
        Ok(())
    }
}

/// A stream's durable state as a checkpoint stores it and recovery returns it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamImage {
    pub id: u64,
    pub meta: StreamMeta,
    pub tail: u64,
    pub closed: bool,
    pub closed_by: Option<ProducerStamp>,
    pub stream_seq: Option<String>,
    /// Each producer with its epoch and last accepted sequence.
    pub producers: Vec<ProducerStamp>,
    pub soft_deleted: bool,
    pub last_access_ms: i64,
    /// Positions before this one were trimmed (state compaction); 0 when none were.
    #[serde(default)]
    pub trimmed_before: u64,
}

/// Durable storage behind the protocol layer.
pub trait Engine: Send + Sync + 'static {
    /// Opens (creating if needed) the data of stream `id`.
    fn data(&self, id: u64) -> io::Result<Box<dyn Data>>;
    /// Submits a record; the returned future resolves once it is durable.
    fn submit(&self, record: Record) -> Commit;
    /// Like [`Engine::submit`], and runs `then` once the record is durable, before the
    /// returned future resolves (never when the commit fails). The file engine runs it on
    /// its log thread right after the sync, so live readers wake straight from the commit.
    fn submit_then(&self, record: Record, then: OnDurable) -> Commit {
        let commit = self.submit(record);
        Box::pin(async move {
            let result = commit.await;
            if result.is_ok() {
                then();
            }
            result
        })
    }
    /// Resolves once everything submitted before this call is durable.
    fn barrier(&self) -> Commit;
    /// Removes a deleted stream's data (after its `Delete` record is durable).
    fn remove(&self, id: u64);
    /// True when the log has grown enough that a checkpoint should run.
    fn checkpoint_due(&self) -> bool;
    /// Starts a checkpoint (blocking): later records go to a new log segment. The caller
    /// then captures every stream's state and passes it to [`Engine::finish_checkpoint`].
    fn begin_checkpoint(&self) -> io::Result<u64>;
    /// Completes a checkpoint (blocking): makes data and the catalog durable, drops old log.
    fn finish_checkpoint(
        &self,
        token: u64,
        next_id: u64,
        streams: Vec<StreamImage>,
    ) -> io::Result<()>;
    /// Stops the log writer after a final sync, for a clean shutdown.
    fn shutdown(&self) -> io::Result<()>;
    /// Stops like a killed process: background threads end, buffered bytes are dropped.
    #[cfg(test)]
    fn halt(&self) {}
    /// A short description for logs: engine and durability policy.
    fn describe(&self) -> String;
}
