//! One stream: immutable metadata, mutable writer state, and the durable tail readers see.

use std::io;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::watch;

use super::engine::{Data, Piece, ProducerStamp, StreamImage, StreamMeta};
use super::rules::{self, WriterState};

/// What readers may see: only durable bytes and a durable closure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Visible {
    pub tail: u64,
    pub closed: bool,
    /// The stream was deleted or expired: live readers stop.
    pub gone: bool,
}

/// Writer-side state, changed under the stream's lock.
#[derive(Debug, Default)]
pub struct State {
    /// What the protocol rules read and change.
    pub writer: WriterState,
    /// Removed from the store; late requests holding this handle must fail.
    pub removed: bool,
    /// Live forks reading this stream's data.
    pub forks: u32,
}

/// A stream handle shared by requests.
pub struct Stream {
    pub id: u64,
    pub meta: StreamMeta,
    /// The fork source, kept alive while this fork exists.
    pub source: Option<Arc<Stream>>,
    pub data: Box<dyn Data>,
    pub state: Mutex<State>,
    pub visible: watch::Sender<Visible>,
    /// Last read or write, Unix milliseconds (sliding TTL).
    pub last_access_ms: AtomicI64,
    /// Own positions before this one are trimmed (see [`Stream::trimmed_before`]).
    trimmed: AtomicU64,
}

impl Stream {
    pub fn new(
        id: u64,
        meta: StreamMeta,
        source: Option<Arc<Stream>>,
        data: Box<dyn Data>,
        state: State,
        now_ms: i64,
    ) -> Stream {
        let visible = Visible { tail: state.writer.tail, closed: state.writer.closed, gone: false };
        Stream {
            id,
            meta,
            source,
            data,
            state: Mutex::new(state),
            visible: watch::Sender::new(visible),
            last_access_ms: AtomicI64::new(now_ms),
            trimmed: AtomicU64::new(0),
        }
    }

    /// The earliest retained position: reads before it get 410. A fork also loses what
    /// its source trimmed below the fork point.
    pub fn trimmed_before(&self) -> u64 {
        let own = self.trimmed.load(Ordering::Acquire);
        let inherited = self.source.as_ref().map_or(0, |s| s.trimmed_before().min(self.meta.base));
        own.max(inherited)
    }

    /// Records a trim (after it is durable, or at recovery); positions only grow.
    pub fn set_trimmed(&self, before: u64) {
        self.trimmed.fetch_max(before, Ordering::AcqRel);
    }

    /// The stream's state for a checkpoint.
    pub fn image(&self) -> StreamImage {
        let st = &self.state.lock().writer;
        StreamImage {
            id: self.id,
            meta: self.meta.clone(),
            tail: st.tail,
            closed: st.closed,
            closed_by: st.closed_by.clone(),
            stream_seq: st.stream_seq.clone(),
            producers: st
                .producers
                .iter()
                .map(|(id, p)| ProducerStamp { id: id.clone(), epoch: p.epoch, seq: p.last_seq })
                .collect(),
            soft_deleted: st.soft_deleted,
            last_access_ms: self.last_access_ms.load(Ordering::Relaxed),
            trimmed_before: self.trimmed.load(Ordering::Acquire),
        }
    }

    /// The durable view readers use.
    pub fn visible(&self) -> Visible {
        *self.visible.borrow()
    }

    /// Makes durable progress visible to readers (monotonic).
    pub fn publish(&self, tail: u64, closed: bool) {
        self.visible.send_if_modified(|v| {
            let changed = tail > v.tail || (closed && !v.closed);
            v.tail = v.tail.max(tail);
            v.closed |= closed;
            changed
        });
    }

    /// Wakes live readers for good: the stream is gone.
    pub fn mark_gone(&self) {
        self.visible.send_modify(|v| v.gone = true);
    }

    /// Records a read or write for the sliding TTL.
    pub fn touch(&self, now_ms: i64) {
        self.last_access_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// True once the stream's TTL or absolute expiry has passed.
    pub fn expired(&self, now_ms: i64) -> bool {
        rules::expired(&self.meta, self.last_access_ms.load(Ordering::Relaxed), now_ms)
    }

    pub fn is_json(&self) -> bool {
        durastream::json::is_json(&self.meta.content_type)
    }

    /// Reads durable bytes in `[pos, end)`, stitching inherited fork data transparently.
    pub fn read(&self, pos: u64, end: u64) -> io::Result<Bytes> {
        let mut parts = Vec::new();
        self.read_parts(pos, end, &mut parts)?;
        Ok(join(parts))
    }

    /// [`Stream::read`] for async callers: a database-backed stream awaits its query
    /// instead of blocking the worker.
    pub async fn read_async(&self, pos: u64, end: u64) -> io::Result<Bytes> {
        let mut parts = Vec::new();
        self.read_parts_async(pos, end, &mut parts).await?;
        Ok(join(parts))
    }

    fn read_parts_async<'a>(
        &'a self,
        pos: u64,
        end: u64,
        out: &'a mut Vec<Bytes>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = io::Result<()>> + Send + 'a>> {
        Box::pin(async move {
            let (inherited, own) = self.split(pos, end)?;
            if let Some((source, end)) = inherited {
                source.read_parts_async(pos, end, out).await?;
            }
            if let Some((at, len)) = own {
                out.push(self.data.read_at_async(at, len).await?);
            }
            Ok(())
        })
    }

    /// [`Stream::read`] as pieces naming data files where the bytes are in one (fork
    /// sources included); `None` when an engine on the way has no files.
    pub fn read_pieces(&self, pos: u64, end: u64) -> io::Result<Option<Vec<Piece>>> {
        let mut out = Vec::new();
        Ok(self.pieces_into(pos, end, &mut out)?.then_some(out))
    }

    fn pieces_into(&self, pos: u64, end: u64, out: &mut Vec<Piece>) -> io::Result<bool> {
        let (inherited, own) = self.split(pos, end)?;
        if let Some((source, end)) = inherited {
            if !source.pieces_into(pos, end, out)? {
                return Ok(false);
            }
        }
        if let Some((at, len)) = own {
            return self.data.read_pieces(at, len, out);
        }
        Ok(true)
    }

    fn read_parts(&self, pos: u64, end: u64, out: &mut Vec<Bytes>) -> io::Result<()> {
        let (inherited, own) = self.split(pos, end)?;
        if let Some((source, end)) = inherited {
            source.read_parts(pos, end, out)?;
        }
        if let Some((at, len)) = own {
            out.push(self.data.read_at(at, len)?);
        }
        Ok(())
    }

    /// Splits `[pos, end)` at the fork point: the part inherited from the source (the
    /// source and where that part ends, as it starts at `pos`) and this stream's own part
    /// (where it starts in this stream's data, and its length).
    fn split(&self, pos: u64, end: u64) -> io::Result<Split<'_>> {
        let base = self.meta.base;
        let inherited = if pos < base {
            let source = self
                .source
                .as_deref()
                .ok_or_else(|| io::Error::other("offset before the stream's base"))?;
            Some((source, end.min(base)))
        } else {
            None
        };
        let from = pos.max(base);
        let own = if end > from {
            Some((from - base, usize::try_from(end - from).map_err(io::Error::other)?))
        } else {
            None
        };
        Ok((inherited, own))
    }
}

/// The pieces of one read as one buffer (no copy for a single piece).
fn join(mut parts: Vec<Bytes>) -> Bytes {
    match parts.len() {
        0 => Bytes::new(),
        1 => parts.swap_remove(0),
        _ => {
            let mut out = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
            for p in &parts {
                out.extend_from_slice(p);
            }
            out.freeze()
        }
    }
}

/// A range split at a fork point: the inherited part (the source, and where that part ends)
/// and the stream's own part (where it starts in its data, and its length).
type Split<'a> = (Option<(&'a Stream, u64)>, Option<(u64, usize)>);
