//! Readers: objects with async `next()` and `next_batch(max)`, over the core `Reader`
//! (chunks) and its JSON view (batches of messages, each as JSON text).
//!
//! The foreign packages wrap them in a `Flow` (Kotlin) or `AsyncSequence` (Swift).
//! `cancel()` (or dropping the foreign future) stops a read that is waiting; the reader
//! then ends.

use std::sync::{Arc, Mutex};

use durastream::client as core;
use serde_json::value::RawValue;
use tokio::sync::watch;

use crate::error::{DurastreamError, Result};
use crate::runtime;

/// How a reader follows the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LiveMode {
    /// Catch-up only: read until up to date (or closed), then end.
    Off,
    /// Long-poll: each request waits for new data; runs until the stream is closed.
    LongPoll,
    /// Server-Sent Events.
    Sse,
    /// Catch up, then SSE, falling back to long-poll when SSE is refused or buffered.
    Auto,
}

/// Options of [`crate::DurableStream::read`].
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct ReadOptions {
    /// Where to start: absent or `-1` for the beginning, `now` for the tail, or an offset
    /// the server returned.
    #[uniffi(default)]
    pub offset: Option<String>,
    /// How to follow the stream; absent means catch-up only (`Off`).
    #[uniffi(default)]
    pub live: Option<LiveMode>,
    /// A cursor from an earlier read, echoed on the first live request.
    #[uniffi(default)]
    pub cursor: Option<String>,
}

impl ReadOptions {
    pub(crate) fn into_core(self) -> core::ReadOptions {
        core::ReadOptions {
            offset: self.offset.map(core::StartOffset::from).unwrap_or_default(),
            live: match self.live.unwrap_or(LiveMode::Off) {
                LiveMode::Off => core::LiveMode::Off,
                LiveMode::LongPoll => core::LiveMode::LongPoll,
                LiveMode::Sse => core::LiveMode::Sse,
                LiveMode::Auto => core::LiveMode::Auto,
            },
            cursor: self.cursor,
        }
    }
}

/// One response (or SSE event pair) worth of data and position.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Chunk {
    /// The bytes; for JSON streams a JSON array of the messages. May be empty: the chunk
    /// then only reports position and flags.
    pub data: Vec<u8>,
    /// The offset to resume from.
    pub next_offset: String,
    /// The reader had every byte that existed when this was sent.
    pub up_to_date: bool,
    /// The stream is closed and this chunk holds its last bytes: the reader ends.
    pub closed: bool,
    /// The cursor the server sent.
    pub cursor: Option<String>,
    /// HTTP status: 200, or 204 for a long-poll that timed out without data.
    pub status: u16,
    /// `data` is a JSON array of messages.
    pub json: bool,
    /// True when the chunk carries no data (no bytes, or a JSON array with no message).
    pub empty: bool,
}

/// A batch of JSON messages (each as JSON text) with the position after it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct JsonBatch {
    /// The messages, each one JSON value as text (possibly none).
    pub items: Vec<String>,
    /// The offset to resume from.
    pub next_offset: String,
    /// Up to date when sent.
    pub up_to_date: bool,
    /// The stream is closed; the reader ends.
    pub closed: bool,
    /// The cursor.
    pub cursor: Option<String>,
}

fn chunk(c: core::Chunk) -> Chunk {
    Chunk {
        empty: c.is_empty(),
        data: c.data.to_vec(),
        next_offset: c.next_offset,
        up_to_date: c.up_to_date,
        closed: c.closed,
        cursor: c.cursor,
        status: c.status,
        json: c.json,
    }
}

fn batch(b: core::JsonBatch<Box<RawValue>>) -> JsonBatch {
    JsonBatch {
        items: b.items.into_iter().map(|v| v.get().to_string()).collect(),
        next_offset: b.next_offset,
        up_to_date: b.up_to_date,
        closed: b.closed,
        cursor: b.cursor,
    }
}

/// What both readers share: the core reader behind an async lock, the position after the
/// last item, and a cancel signal.
struct Shared<R> {
    source: tokio::sync::Mutex<Option<R>>,
    position: Mutex<Position>,
    cancel: watch::Sender<bool>,
}

#[derive(Default, Clone)]
struct Position {
    offset: Option<String>,
    cursor: Option<String>,
    done: bool,
}

/// One step of a core reader, and the flags that decide where a batch stops.
trait Step: Send + 'static {
    type Item: Send + 'static;
    fn step(
        &mut self,
    ) -> impl std::future::Future<Output = core::Result<Option<Self::Item>>> + Send;
    fn flags(item: &Self::Item) -> (&str, Option<&str>, bool, bool);
}

impl Step for core::Reader {
    type Item = core::Chunk;
    async fn step(&mut self) -> core::Result<Option<core::Chunk>> {
        self.next_chunk().await
    }
    fn flags(c: &core::Chunk) -> (&str, Option<&str>, bool, bool) {
        (&c.next_offset, c.cursor.as_deref(), c.up_to_date, c.closed)
    }
}

impl Step for core::JsonReader<Box<RawValue>> {
    type Item = core::JsonBatch<Box<RawValue>>;
    async fn step(&mut self) -> core::Result<Option<Self::Item>> {
        self.next_batch().await
    }
    fn flags(b: &Self::Item) -> (&str, Option<&str>, bool, bool) {
        (&b.next_offset, b.cursor.as_deref(), b.up_to_date, b.closed)
    }
}

impl<R: Step> Shared<R> {
    fn new(reader: R) -> Arc<Self> {
        Arc::new(Shared {
            source: tokio::sync::Mutex::new(Some(reader)),
            position: Mutex::new(Position::default()),
            cancel: watch::channel(false).0,
        })
    }

    fn position(&self) -> Position {
        self.position.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Up to `max` items: waits for the first, then keeps taking while the reader is still
    /// catching up (never waits for live data once up to date).
    async fn take(self: Arc<Self>, max: u32) -> Result<Vec<R::Item>> {
        if max == 0 {
            return Err(DurastreamError::invalid_argument("max", "max must be at least 1"));
        }
        runtime::run(async move {
            let mut cancelled = self.cancel.subscribe();
            if *cancelled.borrow() {
                return Ok(Vec::new());
            }
            let mut guard = self.source.lock().await;
            let mut out = Vec::new();
            while out.len() < max as usize {
                let Some(reader) = guard.as_mut() else { break };
                let next = tokio::select! {
                    r = reader.step() => r,
                    _ = cancelled.changed() => Ok(None),
                };
                let item = match next {
                    Ok(Some(item)) => item,
                    Ok(None) => {
                        *guard = None;
                        self.update(|p| p.done = true);
                        break;
                    }
                    // An error after some items ends the batch early; the core reader
                    // resumes from the last offset, so the next call reports it.
                    Err(e) if out.is_empty() => return Err(e.into()),
                    Err(_) => break,
                };
                let (offset, cursor, up_to_date, closed) = R::flags(&item);
                let stop = up_to_date || closed;
                let (offset, cursor) = (offset.to_string(), cursor.map(str::to_string));
                self.update(|p| {
                    p.offset = Some(offset);
                    if cursor.is_some() {
                        p.cursor = cursor;
                    }
                    p.done |= closed;
                });
                out.push(item);
                if stop {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }

    fn update(&self, f: impl FnOnce(&mut Position)) {
        f(&mut self.position.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    fn cancel(&self) {
        self.cancel.send_replace(true);
        self.update(|p| p.done = true);
    }
}

/// Reads a stream chunk by chunk. Thread-safe; calls are served one at a time.
#[derive(uniffi::Object)]
pub struct Reader {
    shared: Arc<Shared<core::Reader>>,
}

impl Reader {
    pub(crate) fn new(reader: core::Reader) -> Self {
        Reader { shared: Shared::new(reader) }
    }
}

#[uniffi::export]
impl Reader {
    /// The next chunk, or `null`/`nil` once the reader has ended (catch-up done, stream
    /// closed, or cancelled). After an error, calling again resumes from the same offset.
    pub async fn next(&self) -> Result<Option<Chunk>> {
        let mut v = self.shared.clone().take(1).await?;
        Ok(v.pop().map(chunk))
    }

    /// Up to `max` chunks: waits for the first, then takes more only while the reader is
    /// catching up. Empty once the reader has ended.
    pub async fn next_batch(&self, max: u32) -> Result<Vec<Chunk>> {
        Ok(self.shared.clone().take(max).await?.into_iter().map(chunk).collect())
    }

    /// The offset after the last chunk returned, or `null` before the first.
    pub fn offset(&self) -> Option<String> {
        self.shared.position().offset
    }

    /// The last cursor received.
    pub fn cursor(&self) -> Option<String> {
        self.shared.position().cursor
    }

    /// True once the reader has ended.
    pub fn is_done(&self) -> bool {
        self.shared.position().done
    }

    /// Stops the reader: a waiting `next()` returns `null`/`nil`, and so does every later
    /// one.
    pub fn cancel(&self) {
        self.shared.cancel();
    }
}

/// Reads a JSON stream batch by batch; each message is JSON text, decoded on the foreign
/// side (`kotlinx.serialization`, `Decodable`).
#[derive(uniffi::Object)]
pub struct JsonReader {
    shared: Arc<Shared<core::JsonReader<Box<RawValue>>>>,
}

impl JsonReader {
    pub(crate) fn new(reader: core::JsonReader<Box<RawValue>>) -> Self {
        JsonReader { shared: Shared::new(reader) }
    }
}

#[uniffi::export]
impl JsonReader {
    /// The next batch (one response or SSE event pair), or `null`/`nil` once the reader
    /// has ended.
    pub async fn next(&self) -> Result<Option<JsonBatch>> {
        let mut v = self.shared.clone().take(1).await?;
        Ok(v.pop().map(batch))
    }

    /// Up to `max` batches: waits for the first, then takes more only while catching up.
    pub async fn next_batch(&self, max: u32) -> Result<Vec<JsonBatch>> {
        Ok(self.shared.clone().take(max).await?.into_iter().map(batch).collect())
    }

    /// The offset after the last batch returned, or `null` before the first.
    pub fn offset(&self) -> Option<String> {
        self.shared.position().offset
    }

    /// True once the reader has ended.
    pub fn is_done(&self) -> bool {
        self.shared.position().done
    }

    /// Stops the reader (see [`Reader::cancel`]).
    pub fn cancel(&self) {
        self.shared.cancel();
    }
}
