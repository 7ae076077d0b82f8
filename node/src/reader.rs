//! Readers: one core `Reader` per `NativeReader`, pulled chunk by chunk from JavaScript.
//!
//! `next()` resolves with one chunk (one response, or one SSE data/control pair) or `null`
//! once the reader has ended (caught up in catch-up mode, the stream closed, or
//! `cancel()` was called). `cancel()` settles a pending `next()` at once and drops the
//! connection, so a cancelled live read leaves nothing that keeps the process alive.
//!
//! JSON chunks are checked (parsed once in Rust) before delivery only while `checkJson` is
//! on: the JavaScript JSON APIs parse every chunk with `JSON.parse` anyway and turn it off,
//! and the first chunk (fetched before the caller picks an API) comes unchecked; the
//! JavaScript side checks it with `checkJsonData()` when a byte or text API takes it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use durastream::client::{
    count_json_messages, split_json_array, DurableStream, LiveMode, ReadOptions, Reader,
    StartOffset, Transport,
};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::error::to_napi;

/// Parses a live mode name (the core's spelling: `off`, `long-poll`, `sse`, `auto`).
pub fn live_mode(live: &str) -> napi::Result<LiveMode> {
    live.parse().map_err(|e| to_napi(&e))
}

/// One chunk of stream data with its position and flags.
#[napi(object)]
pub struct NativeChunk {
    /// The bytes; for JSON streams a JSON array of the messages.
    pub data: Buffer,
    /// The offset to resume from.
    pub next_offset: String,
    /// The reader had every byte that existed when this was sent.
    pub up_to_date: bool,
    /// The stream is closed and this is its last chunk.
    pub closed: bool,
    /// The server's cursor.
    pub cursor: Option<String>,
    /// HTTP status: 200, or 204 for a long-poll that timed out without data.
    pub status: u32,
    /// `data` is a JSON array of messages.
    pub json: bool,
    /// For JSON chunks: the number of messages (0 for an empty batch).
    pub messages: Option<u32>,
    /// The chunk carries no data.
    pub empty: bool,
    /// How it arrived: `catch-up`, `long-poll` or `sse`.
    pub transport: String,
}

/// A reader pulled from JavaScript. See the module docs.
#[napi]
pub struct NativeReader {
    reader: Arc<Mutex<Reader>>,
    cancel: CancellationToken,
    offset: Arc<std::sync::Mutex<String>>,
    check_json: Arc<AtomicBool>,
}

impl NativeReader {
    pub(crate) fn new(
        stream: &DurableStream,
        offset: Option<String>,
        live: LiveMode,
        cursor: Option<String>,
    ) -> NativeReader {
        let start = offset.map(StartOffset::from).unwrap_or_default();
        let first = start.as_str().to_string();
        let mut opts = ReadOptions::new().offset(start).live(live);
        opts.cursor = cursor;
        NativeReader {
            reader: Arc::new(Mutex::new(stream.read(opts))),
            cancel: CancellationToken::new(),
            offset: Arc::new(std::sync::Mutex::new(first)),
            check_json: Arc::new(AtomicBool::new(false)),
        }
    }
}

#[napi]
impl NativeReader {
    /// The next chunk, or `null` once the reader has ended or was cancelled. An error does
    /// not end the reader: calling again resumes from the same offset.
    #[napi]
    pub async fn next(&self) -> napi::Result<Option<NativeChunk>> {
        let reader = self.reader.clone();
        let offset = self.offset.clone();
        let cancel = self.cancel.clone();
        let check_json = self.check_json.load(Ordering::Relaxed);
        if cancel.is_cancelled() {
            return Ok(None);
        }
        let mut r = tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(None),
            r = reader.lock_owned() => r,
        };
        r.set_check_json(check_json);
        let chunk = tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(None),
            c = r.next_chunk() => c.map_err(|e| to_napi(&e))?,
        };
        let Some(c) = chunk else { return Ok(None) };
        if let Ok(mut o) = offset.lock() {
            o.clone_from(&c.next_offset);
        }
        let empty = c.is_empty();
        Ok(Some(NativeChunk {
            empty,
            messages: c.message_count.and_then(|n| u32::try_from(n).ok()),
            data: Buffer::from(Vec::from(c.data)),
            next_offset: c.next_offset,
            up_to_date: c.up_to_date,
            closed: c.closed,
            cursor: c.cursor,
            status: u32::from(c.status),
            json: c.json,
            transport: match c.transport {
                Transport::CatchUp => "catch-up",
                Transport::LongPoll => "long-poll",
                Transport::Sse => "sse",
            }
            .to_string(),
        }))
    }

    /// Whether later chunks are checked as JSON before delivery (off at first).
    #[napi]
    pub fn set_check_json(&self, on: bool) {
        self.check_json.store(on, Ordering::Relaxed);
    }

    /// Checks that a chunk delivered unchecked holds a JSON array of messages; throws the
    /// reader's parse error if not.
    #[napi]
    pub fn check_json_data(&self, data: &[u8]) -> napi::Result<()> {
        count_json_messages(data).map(|_| ()).map_err(|e| to_napi(&e))
    }

    /// Where to cut a JSON chunk into pieces of about `pieceBytes` bytes of whole messages
    /// (piece `i` is `data[b[i] + 1 .. b[i + 1]]`), so that it can be parsed a piece at a
    /// time; `null` when it should be parsed whole. Each piece must still be parsed (the
    /// cut does not validate the messages).
    #[napi]
    pub fn split_json(&self, data: &[u8], piece_bytes: u32) -> Option<Vec<u32>> {
        split_json_array(data, piece_bytes as usize)
    }

    /// Stops the reader: a pending `next()` resolves `null`, the connection is dropped.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The offset the reader resumes from (after the last chunk delivered).
    #[napi(getter)]
    pub fn offset(&self) -> String {
        self.offset.lock().map(|o| o.clone()).unwrap_or_default()
    }
}
