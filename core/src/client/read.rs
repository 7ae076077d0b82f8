//! Readers: catch-up, long-poll, SSE and auto, with bytes, text and JSON views.
//!
//! A [`Reader`] walks the stream from a start offset and yields one [`Chunk`] per response
//! (catch-up and long-poll) or per SSE control event. Every chunk carries the offset to
//! resume from, the up-to-date and closed flags and the cursor; the reader echoes the
//! cursor on its next live request. It stops for good at `Stream-Closed` and never
//! reconnects after it.
//!
//! Transient failures (network, 408, 429, retryable 5xx) are retried with the client's
//! [`RetryOptions`](super::RetryOptions), resuming from the last delivered offset. An error
//! returned from [`Reader::next_chunk`] does not end the reader: calling again resumes
//! from the same offset.

use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use reqwest::{Method, Response};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::error::{Error, ErrorKind, Result};
use super::http::{header_str, is_success, status_error, transport_error, Op};
use super::retry::{is_transient_status, parse_retry_after};
use super::sse_read::{SseConn, SseOutcome};
use super::stream::{required_offset, DurableStream};
use super::views::{JsonReader, TextReader};
use crate::headers as h;

/// Where a read starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StartOffset {
    /// `-1`: the beginning of the stream.
    #[default]
    Beginning,
    /// `now`: the current tail (only data appended from now on).
    Now,
    /// An offset the server returned earlier (opaque).
    At(String),
}

impl StartOffset {
    /// The wire form (`-1`, `now`, or the offset).
    pub fn as_str(&self) -> &str {
        match self {
            StartOffset::Beginning => "-1",
            StartOffset::Now => "now",
            StartOffset::At(s) => s,
        }
    }
}

impl From<&str> for StartOffset {
    fn from(s: &str) -> Self {
        match s {
            "-1" => StartOffset::Beginning,
            "now" => StartOffset::Now,
            other => StartOffset::At(other.to_string()),
        }
    }
}

impl From<String> for StartOffset {
    fn from(s: String) -> Self {
        StartOffset::from(s.as_str())
    }
}

/// How a reader follows the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LiveMode {
    /// Catch-up only: read until up to date (or closed), then end.
    #[default]
    Off,
    /// Long-poll: each request waits for new data; runs until the stream is closed.
    LongPoll,
    /// Server-Sent Events; reconnects when the server ends the connection.
    Sse,
    /// Catch up with plain reads, then SSE; falls back to long-poll for good when SSE is
    /// refused, when a proxy appears to buffer it (no first event within
    /// [`Timeouts::sse_first_event`](super::Timeouts)), or when three SSE connections in a
    /// row end without delivering an event.
    Auto,
}

impl LiveMode {
    /// The mode's name as the bindings and the `live` query parameter spell it: `off`,
    /// `long-poll`, `sse` or `auto`.
    pub fn name(self) -> &'static str {
        match self {
            LiveMode::Off => "off",
            LiveMode::LongPoll => "long-poll",
            LiveMode::Sse => "sse",
            LiveMode::Auto => "auto",
        }
    }
}

impl std::str::FromStr for LiveMode {
    type Err = Error;

    /// Parses `off`, `long-poll`, `sse` or `auto`; `false`/`""` and `true` (the spellings of
    /// the JavaScript and Python APIs' booleans) mean `off` and `auto`.
    fn from_str(live: &str) -> Result<LiveMode> {
        match live {
            "off" | "false" | "" => Ok(LiveMode::Off),
            "long-poll" => Ok(LiveMode::LongPoll),
            "sse" => Ok(LiveMode::Sse),
            "auto" | "true" => Ok(LiveMode::Auto),
            other => Err(Error::invalid_argument(
                "live",
                format!("live must be \"off\", \"long-poll\", \"sse\" or \"auto\" (got {other:?})"),
            )),
        }
    }
}

/// How a chunk was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A plain catch-up `GET`.
    CatchUp,
    /// A long-poll `GET`.
    LongPoll,
    /// An SSE data/control pair.
    Sse,
}

/// Options of [`DurableStream::read`].
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Where to start. Default: the beginning.
    pub offset: StartOffset,
    /// How to follow the stream. Default: catch-up only.
    pub live: LiveMode,
    /// A cursor from an earlier read, echoed on the first live request.
    pub cursor: Option<String>,
}

impl ReadOptions {
    /// Catch-up from the beginning.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the start offset.
    pub fn offset(mut self, offset: impl Into<StartOffset>) -> Self {
        self.offset = offset.into();
        self
    }
    /// Sets the live mode.
    pub fn live(mut self, live: LiveMode) -> Self {
        self.live = live;
        self
    }
    /// Sets the cursor to echo.
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }
}

/// One response (or SSE event pair) worth of stream data and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The bytes. For JSON streams: a JSON array of the messages (`[]` when none). May be
    /// empty: such a chunk only reports position and flags.
    pub data: Bytes,
    /// The offset to resume from.
    pub next_offset: String,
    /// The reader had every byte that existed when this was sent.
    pub up_to_date: bool,
    /// The stream is closed and this chunk holds its last bytes: the reader ends.
    pub closed: bool,
    /// The cursor the server sent (echoed automatically on the next live request).
    pub cursor: Option<String>,
    /// HTTP status: 200, or 204 for a long-poll that timed out without data.
    pub status: u16,
    /// `data` is a JSON array of messages.
    pub json: bool,
    /// For JSON chunks: the number of messages, when the reader validated the body.
    pub message_count: Option<usize>,
    /// How the chunk arrived.
    pub transport: Transport,
}

impl Chunk {
    /// True when the chunk carries no data (no bytes, or a JSON array with no message).
    pub fn is_empty(&self) -> bool {
        if self.data.is_empty() {
            return true;
        }
        if self.json {
            match self.message_count {
                Some(n) => n == 0,
                None => is_empty_json_array(&self.data),
            }
        } else {
            self.data.is_empty()
        }
    }

    /// The data as UTF-8 text.
    pub fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.data).map_err(|e| {
            Error::builder(ErrorKind::Parse, format!("chunk is not UTF-8: {e}")).build()
        })
    }

    /// The JSON messages, deserialized (JSON streams only).
    pub fn json_items<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        parse_json_array(&self.data)
    }
}

fn is_empty_json_array(data: &[u8]) -> bool {
    data.iter().filter(|b| !b.is_ascii_whitespace()).eq(b"[]".iter())
}

pub(crate) fn parse_json_array<T: DeserializeOwned>(data: &[u8]) -> Result<Vec<T>> {
    serde_json::from_slice(data).map_err(|e| {
        Error::builder(ErrorKind::Parse, format!("invalid JSON in stream data: {e}"))
            .source(e)
            .build()
    })
}

/// Counts the messages of a JSON array body, validating it (for bindings that check a
/// chunk the reader delivered unchecked; see [`Reader::set_check_json`]).
pub fn count_json_messages(data: &[u8]) -> Result<usize> {
    let items: Vec<&RawValue> = serde_json::from_slice(data).map_err(|e| {
        Error::builder(ErrorKind::Parse, format!("invalid JSON in stream data: {e}"))
            .source(e)
            .build()
    })?;
    Ok(items.len())
}

/// The error for stream data that is not valid JSON, for bindings that parse JSON chunks
/// with their own parser (`detail` says what is wrong, and where).
pub fn invalid_json(detail: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Parse, format!("invalid JSON in stream data: {detail}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    CatchUp,
    LongPoll,
    Sse,
}

/// Reads a stream chunk by chunk. See the module docs.
pub struct Reader {
    stream: DurableStream,
    offset: String,
    cursor: Option<String>,
    mode: LiveMode,
    phase: Phase,
    done: bool,
    sse: Option<SseConn>,
    /// SSE connections in a row that ended without an event (Auto fallback).
    empty_sse: u32,
    /// Consecutive transient failures.
    failures: u32,
    pub(crate) validate_json: bool,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("url", &self.stream.url())
            .field("offset", &self.offset)
            .field("mode", &self.mode)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Reader {
    pub(crate) fn new(stream: DurableStream, opts: ReadOptions) -> Reader {
        let phase = match opts.live {
            LiveMode::Off | LiveMode::Auto => Phase::CatchUp,
            LiveMode::LongPoll => Phase::LongPoll,
            LiveMode::Sse => Phase::Sse,
        };
        Reader {
            stream,
            offset: opts.offset.as_str().to_string(),
            cursor: opts.cursor,
            mode: opts.live,
            phase,
            done: false,
            sse: None,
            empty_sse: 0,
            failures: 0,
            validate_json: true,
        }
    }

    /// Whether JSON chunks are checked (parsed once to count their messages) before they
    /// are delivered; on by default. A caller that parses every JSON chunk itself turns it
    /// off and saves a full parse per chunk: bad JSON then surfaces in its own parser
    /// (report it with [`invalid_json`]), and [`Chunk::message_count`] stays `None`.
    pub fn set_check_json(&mut self, on: bool) {
        self.validate_json = on;
    }

    /// The offset the next request starts from (`-1` or `now` until the first response).
    pub fn offset(&self) -> &str {
        &self.offset
    }

    /// The last cursor received.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// True once the reader has ended (closed stream, or caught up in catch-up mode).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The live mode currently in use: in [`LiveMode::Auto`] this reports where the reader
    /// is (catch-up, SSE, or long-poll after a fallback).
    pub fn transport(&self) -> Transport {
        match self.phase {
            Phase::CatchUp => Transport::CatchUp,
            Phase::LongPoll => Transport::LongPoll,
            Phase::Sse => Transport::Sse,
        }
    }

    /// Up to `max` chunks (at least one): waits for the first, then takes more only while
    /// the reader is still catching up (the last chunk was not up to date), so a batch never
    /// waits for new data. Empty once the reader has ended. An error after some chunks ends
    /// the batch early; the reader resumes from the last offset, so the next call reports it.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<Chunk>> {
        let mut out = Vec::new();
        while out.len() < max.max(1) {
            let next = match self.next_chunk().await {
                Err(_) if !out.is_empty() => break,
                next => next?,
            };
            match next {
                Some(c) => {
                    let more = !c.up_to_date && !c.closed;
                    out.push(c);
                    if !more {
                        break;
                    }
                }
                None => break,
            }
        }
        Ok(out)
    }

    /// The next chunk, or `None` once the reader has ended.
    pub async fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let step = match self.phase {
                Phase::CatchUp | Phase::LongPoll => self.poll_once().await,
                Phase::Sse => self.sse_step().await,
            };
            match step {
                Ok(Some(chunk)) => {
                    self.failures = 0;
                    self.offset.clone_from(&chunk.next_offset);
                    if chunk.cursor.is_some() {
                        self.cursor.clone_from(&chunk.cursor);
                    }
                    if chunk.closed {
                        self.done = true;
                        self.sse = None;
                    } else if chunk.up_to_date && self.phase == Phase::CatchUp {
                        match self.mode {
                            LiveMode::Off => self.done = true,
                            _ => self.phase = Phase::Sse,
                        }
                    }
                    return Ok(Some(chunk));
                }
                Ok(None) => continue,
                Err(Failure::Fatal(e)) => {
                    self.sse = None;
                    return Err(e);
                }
                Err(Failure::Transient(e, retry_after)) => {
                    self.sse = None;
                    let retry = self.stream.client.retry_options().clone();
                    if self.failures >= retry.max_retries {
                        let attempts = self.failures + 1;
                        self.failures = 0;
                        return Err(exhausted(e, attempts));
                    }
                    tokio::time::sleep(retry.delay(self.failures, retry_after)).await;
                    self.failures += 1;
                }
                Err(Failure::FallBack) => {
                    self.sse = None;
                    self.phase = Phase::LongPoll;
                }
            }
        }
    }

    /// One catch-up or long-poll request.
    async fn poll_once(&mut self) -> Result<Option<Chunk>, Failure> {
        let live = self.phase == Phase::LongPoll;
        let mut req = self.stream.req(Method::GET, Op::Read);
        req.query.push((h::Q_OFFSET, self.offset.clone()));
        if live {
            req.query.push((h::Q_LIVE, "long-poll".to_string()));
            if let Some(c) = &self.cursor {
                req.query.push((h::Q_CURSOR, c.clone()));
            }
            req.timeout = Some(self.stream.client.timeouts().long_poll);
        }
        let resp = self.stream.client.send_once(&req).await.map_err(Failure::from_transport)?;
        let status = resp.status().as_u16();
        if !is_success(resp.status()) {
            return Err(http_failure(&self.stream, resp).await);
        }
        let headers = resp.headers().clone();
        self.stream.learn_content_type(&headers);
        let next_offset = required_offset(&headers, &self.stream.url).map_err(Failure::Fatal)?;
        let json = header_str(&headers, "content-type").is_some_and(crate::json::is_json)
            || (status == 204
                && self.stream.content_type().is_some_and(|c| crate::json::is_json(&c)));
        let data = if status == 204 {
            Bytes::new()
        } else {
            resp.bytes().await.map_err(|e| {
                Failure::from_transport(transport_error(e, &self.stream.url, Op::Read))
            })?
        };
        let message_count = if json && self.validate_json && status != 204 {
            Some(count_json_messages(&data).map_err(|e| Failure::Fatal(self.with_url(e)))?)
        } else {
            None
        };
        let closed = h::is_true(header_str(&headers, h::STREAM_CLOSED));
        Ok(Some(Chunk {
            data,
            next_offset,
            up_to_date: closed || h::is_true(header_str(&headers, h::STREAM_UP_TO_DATE)),
            closed,
            cursor: header_str(&headers, h::STREAM_CURSOR).map(str::to_string),
            status,
            json,
            message_count,
            transport: if live { Transport::LongPoll } else { Transport::CatchUp },
        }))
    }

    /// Reads from the open SSE connection (opening one if needed) until a control event.
    async fn sse_step(&mut self) -> Result<Option<Chunk>, Failure> {
        if self.sse.is_none() {
            let json = match self.stream.content_type() {
                Some(ct) => crate::json::is_json(&ct),
                None => match self.stream.head().await {
                    Ok(info) => info.content_type.as_deref().is_some_and(crate::json::is_json),
                    Err(e) if e.is_retryable() => {
                        let ra = e.retry_after();
                        return Err(Failure::Transient(e, ra));
                    }
                    Err(e) => return Err(Failure::Fatal(e)),
                },
            };
            let mut req = self.stream.req(Method::GET, Op::Read);
            req.timeout = None;
            req.query.push((h::Q_OFFSET, self.offset.clone()));
            req.query.push((h::Q_LIVE, "sse".to_string()));
            if let Some(c) = &self.cursor {
                req.query.push((h::Q_CURSOR, c.clone()));
            }
            let resp = self.stream.client.send_once(&req).await.map_err(Failure::from_transport)?;
            let status = resp.status().as_u16();
            let is_sse = header_str(resp.headers(), "content-type")
                .is_some_and(|c| c.trim_start().starts_with("text/event-stream"));
            if self.mode == LiveMode::Auto {
                let refused = !is_success(resp.status())
                    && !is_transient_status(status)
                    && !matches!(status, 401 | 403 | 404 | 410);
                if refused || (is_success(resp.status()) && !is_sse) {
                    return Err(Failure::FallBack);
                }
            }
            if !is_success(resp.status()) {
                return Err(http_failure(&self.stream, resp).await);
            }
            if !is_sse {
                return Err(Failure::Fatal(self.with_url(Error::new(
                    ErrorKind::Parse,
                    "SSE request answered without text/event-stream",
                ))));
            }
            let base64 = header_str(resp.headers(), h::STREAM_SSE_DATA_ENCODING)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("base64"));
            self.sse = Some(SseConn::new(resp, base64, json, self.validate_json));
        }
        let timeouts = self.stream.client.timeouts().clone();
        let Some(conn) = self.sse.as_mut() else { return Ok(None) };
        let first_wait = if self.mode == LiveMode::Auto && !conn.got_event() {
            timeouts.sse_first_event
        } else {
            timeouts.sse_idle
        };
        match conn.next(first_wait, timeouts.sse_idle).await {
            SseOutcome::Chunk(chunk) => {
                self.empty_sse = 0;
                Ok(Some(chunk))
            }
            SseOutcome::Ended { got_event } => {
                self.sse = None;
                if got_event {
                    self.empty_sse = 0;
                    return Ok(None); // the server rotated the connection: reconnect now
                }
                self.empty_sse += 1;
                if self.mode == LiveMode::Auto && self.empty_sse >= 3 {
                    return Err(Failure::FallBack);
                }
                Err(Failure::Transient(
                    self.with_url(Error::new(
                        ErrorKind::Network,
                        "SSE connection ended before any event",
                    )),
                    None,
                ))
            }
            SseOutcome::Stalled { got_event } => {
                self.sse = None;
                if self.mode == LiveMode::Auto && !got_event {
                    return Err(Failure::FallBack);
                }
                Err(Failure::Transient(
                    self.with_url(Error::new(ErrorKind::Timeout, "SSE connection went silent")),
                    None,
                ))
            }
            SseOutcome::Transport(e) => {
                self.sse = None;
                Err(Failure::from_transport(transport_error(e, &self.stream.url, Op::Read)))
            }
            SseOutcome::Parse(e) => {
                self.sse = None;
                Err(Failure::Fatal(self.with_url(e)))
            }
        }
    }

    fn with_url(&self, e: Error) -> Error {
        Error::builder(e.kind(), format!("{} (stream {})", e.message(), self.stream.url))
            .url(self.stream.url.as_str())
            .build()
    }

    /// The reader as an async `Stream` of chunks. It ends after the reader ends or after
    /// the first error (use [`Reader::next_chunk`] to continue past errors).
    pub fn into_stream(self) -> impl Stream<Item = Result<Chunk>> + Send + Unpin {
        Box::pin(futures_util::stream::unfold(Some(self), |state| async move {
            let mut reader = state?;
            match reader.next_chunk().await {
                Ok(Some(c)) => Some((Ok(c), Some(reader))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        }))
    }

    /// A view yielding UTF-8 text (characters split across chunks are reassembled).
    pub fn text(self) -> TextReader {
        TextReader::new(self)
    }

    /// A view yielding deserialized JSON messages (JSON streams).
    pub fn json<T: DeserializeOwned>(mut self) -> JsonReader<T> {
        self.validate_json = false;
        JsonReader::new(self)
    }
}

async fn http_failure(stream: &DurableStream, resp: Response) -> Failure {
    let status = resp.status().as_u16();
    if is_transient_status(status) {
        let ra = header_str(resp.headers(), "retry-after").and_then(parse_retry_after);
        Failure::Transient(status_error(resp, &stream.url, Op::Read).await, ra)
    } else {
        Failure::Fatal(status_error(resp, &stream.url, Op::Read).await)
    }
}

/// Why one step failed.
pub(crate) enum Failure {
    /// Retry after a backoff (optionally at least this long).
    Transient(Error, Option<Duration>),
    /// Give the error to the caller.
    Fatal(Error),
    /// Auto mode: stop using SSE.
    FallBack,
}

impl Failure {
    fn from_transport(e: Error) -> Failure {
        match e.kind() {
            ErrorKind::Network | ErrorKind::Timeout => Failure::Transient(e, None),
            _ => Failure::Fatal(e),
        }
    }
}

fn exhausted(e: Error, attempts: u32) -> Error {
    let mut b = Error::builder(
        ErrorKind::RetryExhausted,
        format!("{} (gave up after {attempts} attempts)", e.message()),
    )
    .attempts(attempts)
    .retry_after(e.retry_after());
    if let Some(u) = e.url() {
        b = b.url(u);
    }
    if let Some(s) = e.status() {
        b = b.status(s);
    }
    b.source(e).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_offsets() {
        assert_eq!(StartOffset::from("-1"), StartOffset::Beginning);
        assert_eq!(StartOffset::from("now"), StartOffset::Now);
        assert_eq!(StartOffset::from("0_5").as_str(), "0_5");
    }

    #[test]
    fn live_mode_names_round_trip() {
        for m in [LiveMode::Off, LiveMode::LongPoll, LiveMode::Sse, LiveMode::Auto] {
            assert_eq!(m.name().parse::<LiveMode>().ok(), Some(m));
        }
        assert_eq!("true".parse::<LiveMode>().ok(), Some(LiveMode::Auto));
        assert_eq!("false".parse::<LiveMode>().ok(), Some(LiveMode::Off));
        let e = "poll".parse::<LiveMode>().expect_err("unknown mode");
        assert_eq!((e.kind(), e.argument()), (ErrorKind::InvalidArgument, Some("live")));
    }

    #[test]
    fn json_chunk_emptiness_and_counts() {
        assert_eq!(count_json_messages(b"[]").ok(), Some(0));
        assert_eq!(count_json_messages(b"[{\"a\":1},\n[1,2]]").ok(), Some(2));
        assert_eq!(count_json_messages(b"[{\"a\":").map_err(|e| e.kind()), Err(ErrorKind::Parse));
        assert!(is_empty_json_array(b" [ ] "));
        assert!(!is_empty_json_array(b"[1]"));
    }
}
