//! `GET ?live=sse`: Server-Sent Events.
//!
//! Every data event is followed by a control event carrying the next offset, the cursor
//! and the up-to-date and closed flags. Readers are woken by the stream's watch channel
//! (one notification fans out to every reader), never by polling. On plain HTTP/1.1
//! connections the reader is parked outside hyper (see `park`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::stream;
use http::StatusCode;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;

use super::park;
use super::read::{live_cursor, read_chunk, start_position, ReadQuery};
use super::response::Reply;
use super::App;
use crate::store::{StoreError, Stream, Visible};
use durastream::headers as h;
use durastream::sse::{self, Control};
use durastream::{cursor, json, Offset};

pub(super) struct Reader {
    stream: Arc<Stream>,
    shared: Arc<SharedEvents>,
    rx: watch::Receiver<Visible>,
    shutdown: watch::Receiver<bool>,
    pos: u64,
    cursor: Option<String>,
    base64: bool,
    max_chunk: usize,
    idle: Duration,
    deadline: Instant,
    /// The last control event told the reader it is up to date at `pos`.
    told_up_to_date: bool,
    done: bool,
}

/// Starts an SSE response to a request of HTTP `version`.
pub async fn open(
    app: &App,
    stream: Arc<Stream>,
    q: ReadQuery,
    version: http::Version,
) -> Result<Reply, StoreError> {
    let v = stream.visible();
    let pos = start_position(&stream, q.offset, v).await?;
    let base64 = sse::needs_base64(&stream.meta.content_type);
    let reader = Reader {
        shared: app.sse_events.clone(),
        rx: stream.visible.subscribe(),
        stream,
        shutdown: app.shutdown.clone(),
        pos,
        cursor: q.cursor,
        base64,
        max_chunk: app.config.max_read_bytes,
        idle: super::read::idle_interval(app),
        deadline: Instant::now() + app.config.sse_max_duration,
        told_up_to_date: false,
        done: false,
    };
    let mut reply = Reply::new(StatusCode::OK)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache");
    if base64 {
        reply = reply.header(h::STREAM_SSE_DATA_ENCODING, "base64");
    }
    let reader = match park::current().filter(|_| version == http::Version::HTTP_11) {
        Some(handoff) => match handoff.try_park(park::Parked { reader, prefix: None }) {
            Some(back) => back.reader,
            // hyper sends an empty chunked body; the parked reader sends the events.
            None => return Ok(reply.body(park::placeholder())),
        },
        None => reader,
    };
    let events = stream::unfold(reader, |mut r| async move { Some((r.next_event().await?, r)) });
    let frames = futures_util::StreamExt::flat_map(events, |e| {
        stream::iter(e.data.into_iter().chain([e.control]).map(|b| Ok(Frame::data(b))))
    });
    let body = StreamBody::new(frames);
    Ok(reply.body(body.boxed_unsync()))
}

/// Prepends an event to an SSE reply's body (fault injection).
pub fn inject(reply: Reply, event: Bytes) -> Reply {
    if park::parked_here() {
        if let Some(handoff) = park::current() {
            handoff.set_prefix(event);
        }
        return reply;
    }
    let first = stream::once(async move { Ok::<_, std::io::Error>(Frame::data(event)) });
    let rest = reply.body.into_data_stream().map_frames();
    let body = StreamBody::new(futures_util::StreamExt::chain(first, rest));
    Reply { status: reply.status, headers: reply.headers, body: body.boxed_unsync() }
}

trait MapFrames {
    fn map_frames(
        self,
    ) -> futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, std::io::Error>>;
}

impl<S> MapFrames for S
where
    S: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    fn map_frames(
        self,
    ) -> futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, std::io::Error>> {
        futures_util::StreamExt::boxed(futures_util::StreamExt::map(self, |r| r.map(Frame::data)))
    }
}

impl Reader {
    /// The control event at the reader's position. Readers that echoed no cursor ahead of
    /// the clock share one encoding per worker thread (see [`ControlCache`]).
    fn control(&self, up_to_date: bool, closed: bool) -> Bytes {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let current = cursor::next_cursor(now, None, 0);
        let echoed = self.cursor.as_deref().and_then(|c| c.parse::<u64>().ok());
        if closed || echoed.is_none_or(|c| c < current) {
            let key = (self.pos, current, up_to_date || closed, closed);
            return ControlCache::get(key, || {
                encode_control(self.pos, Some(current), up_to_date, closed)
            });
        }
        let cursor = live_cursor(self.cursor.as_deref()).parse::<u64>().ok();
        encode_control(self.pos, cursor, up_to_date, closed)
    }

    /// What to do next, decided without waiting: send an event (a data event shared with
    /// the stream's other readers at the same position comes from memory), read, end, or
    /// wait for the stream to change.
    pub(super) fn next_now(&mut self) -> Next {
        if self.done {
            return Next::End;
        }
        let v = *self.rx.borrow_and_update();
        if v.gone || *self.shutdown.borrow() || Instant::now() >= self.deadline {
            return Next::End;
        }
        if self.pos < v.tail {
            return match self.shared.cached(self, v.tail) {
                Some((data, end)) => Next::Event(self.data_sent(data, end, v)),
                None => Next::Read(v),
            };
        }
        if v.closed {
            self.done = true;
            return Next::Event(Event::control(self.control(true, true)));
        }
        if !self.told_up_to_date {
            self.told_up_to_date = true;
            return Next::Event(Event::control(self.control(true, false)));
        }
        Next::Wait
    }

    /// After [`Next::Read`]: reads and encodes the data event at the reader's position
    /// (`None` ends the response).
    pub(super) async fn read_event(&mut self, v: Visible) -> Option<Event> {
        match self.shared.data_event(self, v.tail).await {
            Ok((data, end)) => Some(self.data_sent(data, end, v)),
            Err(e) => {
                tracing::warn!("SSE read failed: {e}");
                None
            }
        }
    }

    /// Moves past a data event ending at `end` and pairs it with its control event.
    fn data_sent(&mut self, data: Bytes, end: u64, v: Visible) -> Event {
        self.pos = end;
        let up_to_date = end >= v.tail;
        let closed = v.closed && up_to_date;
        self.told_up_to_date = up_to_date;
        self.done = closed;
        Event { data: Some(data), control: self.control(up_to_date, closed) }
    }

    /// Waits until the stream changes or `idle_deadline` (the keep-alive) passes.
    pub(super) async fn wait(&mut self, idle_deadline: Instant) -> Wake {
        // Shutdown also wakes every stream's readers (see `server`).
        match tokio::time::timeout_at(idle_deadline.min(self.deadline), self.rx.changed()).await {
            Ok(Ok(())) => Wake::Changed,
            Ok(Err(_)) => Wake::End,
            Err(_) if Instant::now() >= self.deadline => Wake::End,
            Err(_) => Wake::KeepAlive,
        }
    }

    /// The keep-alive: the up-to-date control event again.
    pub(super) fn keep_alive(&self) -> Event {
        Event::control(self.control(true, false))
    }

    /// When the keep-alive is due if nothing is sent from now on.
    pub(super) fn idle_deadline(&self) -> Instant {
        Instant::now() + self.idle
    }

    /// The next event, waiting for one as long as it takes. `None` ends the response.
    pub(super) async fn next_event(&mut self) -> Option<Event> {
        let idle_deadline = self.idle_deadline();
        loop {
            match self.next_now() {
                Next::Event(e) => return Some(e),
                Next::Read(v) => return self.read_event(v).await,
                Next::End => return None,
                Next::Wait => match self.wait(idle_deadline).await {
                    Wake::Changed => {}
                    Wake::End => return None,
                    Wake::KeepAlive => return Some(self.keep_alive()),
                },
            }
        }
    }
}

/// A reader's next step (see [`Reader::next_now`]).
pub(super) enum Next {
    Event(Event),
    /// The data event must be read at this view of the stream.
    Read(Visible),
    End,
    Wait,
}

/// Why [`Reader::wait`] returned.
pub(super) enum Wake {
    Changed,
    KeepAlive,
    End,
}

fn encode_control(pos: u64, cursor: Option<u64>, up_to_date: bool, closed: bool) -> Bytes {
    let mut out = Vec::with_capacity(128);
    Control {
        next_offset: Offset(pos).to_string(),
        cursor: (!closed).then(|| cursor.map(|c| c.to_string()).unwrap_or_default()),
        up_to_date: up_to_date || closed,
        closed,
    }
    .encode(&mut out);
    Bytes::from(out)
}

/// The last control event encoded on this thread, by (position, cursor, up to date,
/// closed): one append reaching many readers is followed by the same control event.
struct ControlCache;

type ControlKey = (u64, u64, bool, bool);

thread_local! {
    static LAST_CONTROL: RefCell<Option<(ControlKey, Bytes)>> = const { RefCell::new(None) };
}

impl ControlCache {
    fn get(key: ControlKey, encode: impl FnOnce() -> Bytes) -> Bytes {
        LAST_CONTROL.with(|last| {
            let mut last = last.borrow_mut();
            match &*last {
                Some((k, b)) if *k == key => b.clone(),
                _ => {
                    let b = encode();
                    *last = Some((key, b.clone()));
                    b
                }
            }
        })
    }
}

/// One SSE event as sent: an optional data event, then a control event.
pub(super) struct Event {
    pub data: Option<Bytes>,
    pub control: Bytes,
}

impl Event {
    fn control(control: Bytes) -> Event {
        Event { data: None, control }
    }
}

/// The last data event encoded per stream, so that one append reaching many readers at the
/// same position is read and encoded once: each reader sends the same bytes.
#[derive(Default)]
pub struct SharedEvents {
    last: Mutex<Last>,
    /// Most bytes of events held at once (`Config::sse_shared_bytes`).
    max_bytes: usize,
}

#[derive(Default)]
struct Last {
    by_stream: HashMap<u64, SharedEvent>,
    bytes: usize,
}

struct SharedEvent {
    pos: u64,
    tail: u64,
    base64: bool,
    end: u64,
    event: Bytes,
}

/// Streams remembered at once; past it (or past the byte bound) the memory starts over
/// (a bound, not an LRU).
const SHARED_STREAMS: usize = 4096;

impl SharedEvents {
    /// Shares events of at most `max_bytes` in total (0: none are shared).
    pub fn new(max_bytes: usize) -> SharedEvents {
        SharedEvents { last: Mutex::default(), max_bytes }
    }

    /// The data event for `r` at its position with the stream's tail at `tail` and the
    /// position after it, if it is in memory.
    fn cached(&self, r: &Reader, tail: u64) -> Option<(Bytes, u64)> {
        let last = self.last.lock();
        let e = last.by_stream.get(&r.stream.id)?;
        ((e.pos, e.tail, e.base64) == (r.pos, tail, r.base64)).then(|| (e.event.clone(), e.end))
    }

    /// The data event for `r` at its position with the stream's tail at `tail`, and the
    /// position after it.
    async fn data_event(&self, r: &Reader, tail: u64) -> Result<(Bytes, u64), StoreError> {
        if let Some(hit) = self.cached(r, tail) {
            return Ok(hit);
        }
        let id = r.stream.id;
        let (bytes, end) = read_chunk(&r.stream, r.pos, tail, r.max_chunk).await?;
        let payload = if r.stream.is_json() { json::to_array(&bytes) } else { bytes.to_vec() };
        let mut out = Vec::with_capacity(payload.len() + 32);
        sse::encode_data(&mut out, &payload, r.base64);
        let event = Bytes::from(out);
        if event.len() > self.max_bytes {
            return Ok((event, end));
        }
        let mut last = self.last.lock();
        let full = last.by_stream.len() >= SHARED_STREAMS && !last.by_stream.contains_key(&id);
        if full || last.bytes + event.len() > self.max_bytes {
            *last = Last::default();
        }
        let shared = SharedEvent { pos: r.pos, tail, base64: r.base64, end, event: event.clone() };
        last.bytes += event.len();
        if let Some(old) = last.by_stream.insert(id, shared) {
            last.bytes -= old.event.len();
        }
        Ok((event, end))
    }
}
