//! `GET ?live=sse`: Server-Sent Events.
//!
//! Every data event is followed by a control event carrying the next offset, the cursor
//! and the up-to-date and closed flags. Readers are woken by the stream's watch channel
//! (one notification fans out to every reader), never by polling. On plain HTTP/1.1
//! connections the reader is parked outside hyper (see `park`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::StatusCode;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::sync::watch;
use tokio::time::Instant;

use super::park;
use super::read::{live_cursor, read_chunk, start_position, ReadQuery};
use super::response::Reply;
use super::App;
use crate::store::{StoreError, Stream, Visible};
use durastream::headers as h;
use durastream::sse::{self, Control};
use durastream::{json, Offset};

pub(super) struct Reader {
    stream: Arc<Stream>,
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
pub fn open(
    app: &App,
    stream: Arc<Stream>,
    q: ReadQuery,
    version: http::Version,
) -> Result<Reply, StoreError> {
    let v = stream.visible();
    let pos = start_position(&stream, q.offset, v)?;
    let base64 = sse::needs_base64(&stream.meta.content_type);
    let reader = Reader {
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
            None => {
                return Ok(reply.body(
                    StreamBody::new(stream::empty::<Result<Frame<Bytes>, std::io::Error>>())
                        .boxed_unsync(),
                ))
            }
        },
        None => reader,
    };
    let body = StreamBody::new(stream::unfold(reader, |mut r| async move {
        let bytes = r.next_event().await?;
        Some((Ok::<_, std::io::Error>(Frame::data(bytes)), r))
    }));
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
    fn control(&self, up_to_date: bool, closed: bool) -> Control {
        Control {
            next_offset: Offset(self.pos).to_string(),
            cursor: (!closed).then(|| live_cursor(self.cursor.as_deref())),
            up_to_date: up_to_date || closed,
            closed,
        }
    }

    pub(super) async fn next_event(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let idle_deadline = Instant::now() + self.idle;
        loop {
            let v = *self.rx.borrow_and_update();
            if v.gone || *self.shutdown.borrow() || Instant::now() >= self.deadline {
                return None;
            }
            let mut out = Vec::new();
            if self.pos < v.tail {
                let (bytes, end) = match read_chunk(&self.stream, self.pos, v.tail, self.max_chunk)
                {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("SSE read failed: {e}");
                        return None;
                    }
                };
                let payload =
                    if self.stream.is_json() { json::to_array(&bytes) } else { bytes.to_vec() };
                sse::encode_data(&mut out, &payload, self.base64);
                self.pos = end;
                let up_to_date = end >= v.tail;
                let closed = v.closed && up_to_date;
                self.control(up_to_date, closed).encode(&mut out);
                self.told_up_to_date = up_to_date;
                self.done = closed;
                return Some(Bytes::from(out));
            }
            if v.closed {
                self.control(true, true).encode(&mut out);
                self.done = true;
                return Some(Bytes::from(out));
            }
            if !self.told_up_to_date {
                self.control(true, false).encode(&mut out);
                self.told_up_to_date = true;
                return Some(Bytes::from(out));
            }
            tokio::select! {
                // Shutdown also wakes every stream's readers (see `server`).
                r = self.rx.changed() => if r.is_err() { return None },
                _ = tokio::time::sleep_until(idle_deadline.min(self.deadline)) => {
                    if Instant::now() >= self.deadline {
                        return None;
                    }
                    // Keep-alive: repeat the up-to-date control event.
                    self.control(true, false).encode(&mut out);
                    return Some(Bytes::from(out));
                }
            }
        }
    }
}
