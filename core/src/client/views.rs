//! Text and JSON views of a [`Reader`].

use std::collections::VecDeque;
use std::marker::PhantomData;

use futures_util::Stream;
use serde::de::DeserializeOwned;

use super::error::{Error, ErrorKind, Result};
use super::read::{parse_json_array, Reader};

/// A text chunk: the [`Chunk`] fields with `data` decoded as UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextChunk {
    /// The text (bytes of a character cut at the chunk's end are held for the next one).
    pub text: String,
    /// The offset to resume from.
    pub next_offset: String,
    /// Up to date when sent.
    pub up_to_date: bool,
    /// The stream is closed; the reader ends.
    pub closed: bool,
    /// The cursor.
    pub cursor: Option<String>,
}

/// Text view of a [`Reader`].
pub struct TextReader {
    reader: Reader,
    carry: Vec<u8>,
}

impl TextReader {
    pub(crate) fn new(reader: Reader) -> TextReader {
        TextReader { reader, carry: Vec::new() }
    }

    /// The next text chunk, or `None` once the reader has ended. Invalid UTF-8 is a
    /// [`ErrorKind::Parse`] error.
    pub async fn next_text(&mut self) -> Result<Option<TextChunk>> {
        let Some(chunk) = self.reader.next_chunk().await? else {
            if self.carry.is_empty() {
                return Ok(None);
            }
            return Err(Error::new(ErrorKind::Parse, "stream ended inside a UTF-8 character"));
        };
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(&chunk.data);
        let valid = match std::str::from_utf8(&bytes) {
            Ok(_) => bytes.len(),
            Err(e) if e.error_len().is_none() && !chunk.closed => e.valid_up_to(),
            Err(e) => {
                return Err(Error::new(ErrorKind::Parse, format!("stream data is not UTF-8: {e}")));
            }
        };
        self.carry = bytes.split_off(valid);
        let text = String::from_utf8(bytes)
            .map_err(|e| Error::new(ErrorKind::Parse, format!("stream data is not UTF-8: {e}")))?;
        Ok(Some(TextChunk {
            text,
            next_offset: chunk.next_offset,
            up_to_date: chunk.up_to_date,
            closed: chunk.closed,
            cursor: chunk.cursor,
        }))
    }

    /// The underlying reader.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// The text chunks as an async `Stream`; ends at the end of the reader or after an
    /// error.
    pub fn into_stream(self) -> impl Stream<Item = Result<TextChunk>> + Send + Unpin {
        Box::pin(futures_util::stream::unfold(Some(self), |state| async move {
            let mut r = state?;
            match r.next_text().await {
                Ok(Some(c)) => Some((Ok(c), Some(r))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        }))
    }
}

/// A batch of JSON messages with the position after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonBatch<T> {
    /// The messages (possibly none).
    pub items: Vec<T>,
    /// The offset to resume from.
    pub next_offset: String,
    /// Up to date when sent.
    pub up_to_date: bool,
    /// The stream is closed; the reader ends.
    pub closed: bool,
    /// The cursor.
    pub cursor: Option<String>,
}

/// JSON view of a [`Reader`]: batches or single messages, parsed once into `T`.
pub struct JsonReader<T> {
    reader: Reader,
    items: VecDeque<T>,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> JsonReader<T> {
    pub(crate) fn new(reader: Reader) -> JsonReader<T> {
        JsonReader { reader, items: VecDeque::new(), _t: PhantomData }
    }

    /// The next batch (one response or SSE event pair), or `None` once the reader ended.
    pub async fn next_batch(&mut self) -> Result<Option<JsonBatch<T>>> {
        let Some(chunk) = self.reader.next_chunk().await? else { return Ok(None) };
        let items = if chunk.data.is_empty() { Vec::new() } else { parse_json_array(&chunk.data)? };
        Ok(Some(JsonBatch {
            items,
            next_offset: chunk.next_offset,
            up_to_date: chunk.up_to_date,
            closed: chunk.closed,
            cursor: chunk.cursor,
        }))
    }

    /// The next single message, or `None` once the reader ended. In a live mode this waits
    /// for new messages.
    pub async fn next_item(&mut self) -> Result<Option<T>> {
        loop {
            if let Some(item) = self.items.pop_front() {
                return Ok(Some(item));
            }
            match self.next_batch().await? {
                Some(batch) => self.items.extend(batch.items),
                None => return Ok(None),
            }
        }
    }

    /// The offset after the last batch taken (messages still queued by
    /// [`JsonReader::next_item`] lie before it).
    pub fn offset(&self) -> &str {
        self.reader.offset()
    }

    /// The messages as an async `Stream`; ends at the end of the reader or after an error.
    pub fn into_stream(self) -> impl Stream<Item = Result<T>> + Send + Unpin
    where
        T: Send + 'static,
    {
        Box::pin(futures_util::stream::unfold(Some(self), |state| async move {
            let mut r = state?;
            match r.next_item().await {
                Ok(Some(item)) => Some((Ok(item), Some(r))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        }))
    }
}
