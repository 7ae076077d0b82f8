//! The idempotent producer: batched, pipelined, exactly-once appends.
//!
//! Each batch is one `POST` carrying `Producer-Id`, `Producer-Epoch` and `Producer-Seq`;
//! the server deduplicates a re-sent `(id, epoch, seq)`, so the producer retries network
//! failures, timeouts, 408, 429 and retryable 5xx with the same sequence number.
//!
//! - [`Producer::append`] never waits on the network: it copies the item into the open
//!   batch and returns. A batch is sent when it reaches `max_batch_bytes` or
//!   `max_batch_items`, or when `linger` has passed since its first item and a send slot
//!   is free (under load, batches grow instead of queueing).
//! - Memory is bounded: while more than `max_buffered_bytes` are unacknowledged,
//!   [`Producer::append`] fails with [`ErrorKind::BufferFull`] and
//!   [`Producer::append_wait`] waits for room.
//! - Up to `max_in_flight` batches are in flight. A batch that overtakes an earlier one
//!   and is refused with a sequence gap is parked and re-sent once its predecessors are
//!   acknowledged; a gap with no predecessor outstanding is fatal.
//! - Epochs: a 403 (stale epoch) is fatal unless `auto_claim` is set, in which case the
//!   producer waits for its in-flight batches, moves to the server's epoch + 1 and re-sends
//!   every unacknowledged batch from sequence 0. With `auto_claim`, only one batch is in
//!   flight until the epoch is confirmed.
//! - A fatal error is passed to the `on_error` callback and returned by the next awaited
//!   call (and by every later `append`); unsent data is discarded. [`Producer::restart`]
//!   then begins a new epoch.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::{watch, Notify};

use super::error::{Error, ErrorKind, Result};
use super::http::{header_str, header_u64, is_success, status_error, Op};
use super::stream::{required_offset, CloseResult, DurableStream};
use crate::headers as h;
use crate::values::MAX_SAFE_INTEGER;

pub(crate) use super::producer_worker::State;
use super::producer_worker::{run_worker, OpenBatch};

/// Called with every fatal producer error, from the producer's background task.
pub type ErrorCallback = Arc<dyn Fn(&Error) + Send + Sync>;

/// Settings of a [`Producer`]. Validate with [`ProducerOptions::validate`] (done by
/// [`DurableStream::producer`]).
#[derive(Clone)]
pub struct ProducerOptions {
    /// Starting epoch. Default 0.
    pub epoch: u64,
    /// On 403, take over the producer id at the server's epoch + 1. Default false.
    pub auto_claim: bool,
    /// Close a batch at this many bytes of items. At least 1. Default 1 MiB.
    pub max_batch_bytes: usize,
    /// Close a batch at this many items. At least 1. Default 10 000.
    pub max_batch_items: usize,
    /// How long the first item of a batch may wait for company. Default 5 ms.
    pub linger: Duration,
    /// Batches in flight at once. At least 1. Default 1.
    pub max_in_flight: usize,
    /// Unacknowledged bytes above which appends are refused (or wait). Default 16 MiB.
    pub max_buffered_bytes: usize,
    /// The stream's content type, if the stream handle does not know it yet.
    pub content_type: Option<String>,
    /// Receives every fatal error.
    pub on_error: Option<ErrorCallback>,
}

impl Default for ProducerOptions {
    fn default() -> Self {
        ProducerOptions {
            epoch: 0,
            auto_claim: false,
            max_batch_bytes: 1024 * 1024,
            max_batch_items: 10_000,
            linger: Duration::from_millis(5),
            max_in_flight: 1,
            max_buffered_bytes: 16 * 1024 * 1024,
            content_type: None,
            on_error: None,
        }
    }
}

impl std::fmt::Debug for ProducerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerOptions")
            .field("epoch", &self.epoch)
            .field("auto_claim", &self.auto_claim)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("max_batch_items", &self.max_batch_items)
            .field("linger", &self.linger)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_buffered_bytes", &self.max_buffered_bytes)
            .finish_non_exhaustive()
    }
}

impl ProducerOptions {
    /// Checks the options; the error names the offending option (camelCase).
    pub fn validate(&self) -> Result<()> {
        if self.epoch > MAX_SAFE_INTEGER {
            return Err(Error::invalid_argument("epoch", "producer epoch must be at most 2^53-1"));
        }
        if self.max_batch_bytes == 0 {
            return Err(Error::invalid_argument(
                "maxBatchBytes",
                "producer maxBatchBytes must be at least 1",
            ));
        }
        if self.max_batch_items == 0 {
            return Err(Error::invalid_argument(
                "maxBatchItems",
                "producer maxBatchItems must be at least 1",
            ));
        }
        if self.max_in_flight == 0 {
            return Err(Error::invalid_argument(
                "maxInFlight",
                "producer maxInFlight must be at least 1",
            ));
        }
        if self.max_buffered_bytes == 0 {
            return Err(Error::invalid_argument(
                "maxBufferedBytes",
                "producer maxBufferedBytes must be at least 1",
            ));
        }
        Ok(())
    }

    /// Builds options from loosely typed numbers, as foreign callers pass them (absent
    /// fields keep their default), and validates them together with the producer id.
    pub fn from_raw(
        producer_id: Option<&str>,
        epoch: Option<i64>,
        max_batch_bytes: Option<i64>,
        max_batch_items: Option<i64>,
        max_in_flight: Option<i64>,
        linger_ms: Option<f64>,
    ) -> Result<Self> {
        if producer_id.is_some_and(str::is_empty) {
            return Err(Error::invalid_argument("producerId", "producerId must not be empty"));
        }
        let mut o = ProducerOptions::default();
        let positive = |name: &'static str, v: i64| -> Result<usize> {
            if v < 1 {
                return Err(Error::invalid_argument(
                    name,
                    format!("producer {name} must be at least 1 (got {v})"),
                ));
            }
            usize::try_from(v)
                .map_err(|_| Error::invalid_argument(name, format!("producer {name} is too large")))
        };
        if let Some(e) = epoch {
            if e < 0 {
                return Err(Error::invalid_argument(
                    "epoch",
                    format!("producer epoch must be >= 0 (got {e})"),
                ));
            }
            o.epoch = e.unsigned_abs();
        }
        if let Some(v) = max_batch_bytes {
            o.max_batch_bytes = positive("maxBatchBytes", v)?;
        }
        if let Some(v) = max_batch_items {
            o.max_batch_items = positive("maxBatchItems", v)?;
        }
        if let Some(v) = max_in_flight {
            o.max_in_flight = positive("maxInFlight", v)?;
        }
        if let Some(ms) = linger_ms {
            if !(0.0..1e12).contains(&ms) {
                return Err(Error::invalid_argument(
                    "lingerMs",
                    format!("producer lingerMs must be >= 0 (got {ms})"),
                ));
            }
            o.linger = Duration::from_secs_f64(ms / 1000.0);
        }
        o.validate()?;
        Ok(o)
    }
}

/// State shared by the handles and the background task.
pub(crate) struct Shared {
    pub(crate) stream: DurableStream,
    pub(crate) id: String,
    pub(crate) opts: ProducerOptions,
    pub(crate) state: Mutex<State>,
    /// Wakes the background task.
    pub(crate) wake: Notify,
    /// Bumped on every acknowledgement, failure or state change.
    pub(crate) progress: watch::Sender<u64>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn bump(&self) {
        self.progress.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// An idempotent producer. Cheap to clone; the background task ends when the last clone
/// is dropped (after a best-effort flush), or after [`Producer::close`] or
/// [`Producer::detach`].
#[derive(Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.lock().dropped = true;
        self.shared.wake.notify_one();
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.handle.shared;
        f.debug_struct("Producer")
            .field("url", &s.stream.url())
            .field("id", &s.id)
            .finish_non_exhaustive()
    }
}

impl Producer {
    pub(crate) fn new(stream: DurableStream, id: &str, opts: ProducerOptions) -> Result<Producer> {
        if id.is_empty() {
            return Err(Error::invalid_argument("producerId", "producerId must not be empty"));
        }
        opts.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::invalid_argument("runtime", "a Producer must be created inside a tokio runtime")
        })?;
        let json = opts
            .content_type
            .clone()
            .or_else(|| stream.content_type())
            .map(|ct| crate::json::is_json(&ct));
        let state = State::new(
            opts.epoch,
            json,
            opts.content_type.clone().or_else(|| stream.content_type()),
        );
        let (progress, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            stream,
            id: id.to_string(),
            opts,
            state: Mutex::new(state),
            wake: Notify::new(),
            progress,
        });
        runtime.spawn(run_worker(shared.clone()));
        Ok(Producer { handle: Arc::new(Handle { shared }) })
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The producer id.
    pub fn id(&self) -> &str {
        &self.shared().id
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.shared().lock().epoch
    }

    /// The next sequence number to be assigned in the current epoch.
    pub fn next_seq(&self) -> u64 {
        self.shared().lock().next_seq
    }

    /// The tail offset reported by the last acknowledged batch.
    pub fn last_offset(&self) -> Option<String> {
        self.shared().lock().last_offset.clone()
    }

    /// Items appended but not yet acknowledged by the server (queued, batching or in
    /// flight). The bindings report it as the producer's pending count.
    pub fn pending_items(&self) -> u64 {
        let st = self.shared().lock();
        st.appended_items.saturating_sub(st.acked_items)
    }

    /// Batches sent and waiting for the server's answer (at most `max_in_flight`).
    pub fn in_flight_batches(&self) -> usize {
        self.shared().lock().in_flight()
    }

    /// Bytes appended but not yet acknowledged.
    pub fn buffered_bytes(&self) -> usize {
        self.shared().lock().buffered_bytes
    }

    /// The fatal error that stopped the producer, if any.
    pub fn error(&self) -> Option<Error> {
        self.shared().lock().error.clone()
    }

    /// Queues raw bytes. On a byte stream they are concatenated with the other items; on a
    /// JSON stream they must be one JSON value (checked here when the content type is
    /// known). Never waits; see the module docs for [`ErrorKind::BufferFull`].
    pub fn append(&self, item: impl AsRef<[u8]>) -> Result<()> {
        let item = item.as_ref();
        let json = self.shared().lock().json;
        if json == Some(true) {
            check_json(item)?;
        }
        self.push(item)
    }

    /// Queues UTF-8 text (see [`Producer::append`]).
    pub fn append_text(&self, text: &str) -> Result<()> {
        self.append(text.as_bytes())
    }

    /// Queues one JSON message (an array value stays one message).
    pub fn append_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| {
            Error::builder(
                ErrorKind::InvalidArgument,
                format!("cannot serialize JSON message: {e}"),
            )
            .argument("value")
            .build()
        })?;
        self.push(&bytes)
    }

    /// Queues one JSON message given as text; invalid JSON is an [`ErrorKind::Parse`]
    /// error.
    pub fn append_json_text(&self, text: &str) -> Result<()> {
        check_json(text.as_bytes())?;
        self.push(text.as_bytes())
    }

    /// Like [`Producer::append`], but waits for room instead of failing with
    /// [`ErrorKind::BufferFull`].
    pub async fn append_wait(&self, item: impl AsRef<[u8]>) -> Result<()> {
        let item = item.as_ref();
        if self.shared().lock().json == Some(true) {
            check_json(item)?;
        }
        let mut rx = self.shared().progress.subscribe();
        loop {
            match self.push(item) {
                Err(e) if e.kind() == ErrorKind::BufferFull => {
                    if rx.changed().await.is_err() {
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
    }

    fn push(&self, item: &[u8]) -> Result<()> {
        let shared = self.shared();
        let mut st = shared.lock();
        st.usable(shared.stream.url())?;
        let max = shared.opts.max_buffered_bytes;
        if st.buffered_bytes > 0 && st.buffered_bytes + item.len() > max {
            return Err(Error::builder(
                ErrorKind::BufferFull,
                format!(
                    "producer buffer full ({} of {max} bytes unacknowledged)",
                    st.buffered_bytes
                ),
            )
            .url(shared.stream.url())
            .build());
        }
        let opts = &shared.opts;
        let full =
            |b: &OpenBatch| b.items >= opts.max_batch_items || b.bytes >= opts.max_batch_bytes;
        if st
            .open
            .as_ref()
            .is_some_and(|b| b.items > 0 && b.bytes + item.len() > opts.max_batch_bytes)
        {
            st.seal_open();
        }
        let first = st.open.is_none();
        let open = st.open.get_or_insert_with(OpenBatch::new);
        open.push(item);
        let sealed = if full(open) {
            st.seal_open();
            true
        } else {
            false
        };
        st.buffered_bytes += item.len();
        st.appended_items += 1;
        drop(st);
        if first || sealed || opts.linger.is_zero() {
            shared.wake.notify_one();
        }
        Ok(())
    }

    /// Sends everything appended so far and waits until it is acknowledged (without
    /// polling). Returns the producer's fatal error, if any.
    pub async fn flush(&self) -> Result<()> {
        let shared = self.shared();
        let mut rx = shared.progress.subscribe();
        let target = {
            let mut st = shared.lock();
            st.flush_upto = st.flush_upto.max(st.appended_items);
            st.appended_items
        };
        shared.wake.notify_one();
        loop {
            {
                let st = shared.lock();
                if let Some(e) = &st.error {
                    return Err(e.clone());
                }
                if st.acked_items >= target {
                    return Ok(());
                }
                if st.worker_gone {
                    return Err(Error::new(ErrorKind::ProducerClosed, "producer task has stopped"));
                }
            }
            if rx.changed().await.is_err() {
                return Err(Error::new(ErrorKind::ProducerClosed, "producer task has stopped"));
            }
        }
    }

    /// Flushes, then closes the stream through this producer (idempotently: a retry is
    /// deduplicated), optionally appending a final message atomically. Calling it again
    /// returns the same result. On a JSON stream `final_message` is one JSON value.
    pub async fn close(&self, final_message: Option<&[u8]>) -> Result<CloseResult> {
        if let Some(done) = self.shared().lock().close_result.clone() {
            return Ok(done);
        }
        self.flush().await?;
        let shared = self.shared();
        shared.lock().closing = true;
        let result = self.send_close(final_message).await;
        let mut st = shared.lock();
        st.closing = false;
        match &result {
            Ok(r) => {
                st.close_result = Some(r.clone());
                st.stopped = true;
            }
            Err(e) if e.kind() == ErrorKind::StreamClosed => st.stopped = true,
            Err(_) => {}
        }
        drop(st);
        shared.bump();
        shared.wake.notify_one();
        result
    }

    async fn send_close(&self, final_message: Option<&[u8]>) -> Result<CloseResult> {
        let shared = self.shared();
        let stream = &shared.stream;
        let (json, known_ct) = {
            let st = shared.lock();
            (st.json, st.content_type.clone())
        };
        let body = match final_message.filter(|m| !m.is_empty()) {
            None => None,
            Some(m) => {
                let ct = match known_ct {
                    Some(ct) => ct,
                    None => stream.resolve_content_type().await?,
                };
                let is_json = json.unwrap_or_else(|| crate::json::is_json(&ct));
                let body = if is_json {
                    check_json(m)?;
                    let mut b = Vec::with_capacity(m.len() + 2);
                    b.push(b'[');
                    b.extend_from_slice(m);
                    b.push(b']');
                    Bytes::from(b)
                } else {
                    Bytes::copy_from_slice(m)
                };
                Some((ct, body))
            }
        };
        let mut claims = 0;
        loop {
            let (epoch, seq) = {
                let st = shared.lock();
                (st.epoch, st.next_seq)
            };
            let mut req = stream
                .req(Method::POST, Op::Produce)
                .header(h::STREAM_CLOSED, "true")
                .header(h::PRODUCER_ID, shared.id.clone())
                .header(h::PRODUCER_EPOCH, epoch.to_string())
                .header(h::PRODUCER_SEQ, seq.to_string());
            if let Some((ct, b)) = &body {
                req = req.header("content-type", ct.clone());
                req.body = Some(b.clone());
            }
            let resp = stream.client.send(&req).await?;
            let status = resp.status().as_u16();
            if is_success(resp.status()) {
                let mut st = shared.lock();
                st.next_seq = seq + 1;
                st.epoch_confirmed = true;
                drop(st);
                return Ok(CloseResult {
                    final_offset: required_offset(resp.headers(), &stream.url)?,
                });
            }
            let server_epoch = header_u64(resp.headers(), h::PRODUCER_EPOCH);
            if status == 403 && shared.opts.auto_claim && claims < 3 {
                if let Some(server) = server_epoch {
                    claims += 1;
                    let mut st = shared.lock();
                    st.epoch = server.max(st.epoch) + 1;
                    st.next_seq = 0;
                    continue;
                }
            }
            let _ = header_str(resp.headers(), h::STREAM_CLOSED);
            return Err(status_error(resp, &stream.url, Op::Produce).await);
        }
    }

    /// Flushes, then stops the producer without closing the stream.
    pub async fn detach(&self) -> Result<()> {
        let flushed = self.flush().await;
        let shared = self.shared();
        shared.lock().stopped = true;
        shared.wake.notify_one();
        shared.bump();
        flushed
    }

    /// Starts a new epoch (the current one + 1, or past the server's epoch if a stale-epoch
    /// error reported it) at sequence 0, clearing a fatal error. Appended data not yet
    /// acknowledged is flushed first when the producer is healthy. Returns the new epoch.
    pub async fn restart(&self) -> Result<u64> {
        let healthy = self.shared().lock().error.is_none();
        if healthy {
            self.flush().await?;
        }
        let shared = self.shared();
        let mut st = shared.lock();
        if st.stopped {
            return Err(Error::new(ErrorKind::ProducerClosed, "producer is closed or detached"));
        }
        let server = st.error.as_ref().and_then(Error::current_epoch).unwrap_or(0);
        st.epoch = st.epoch.max(server) + 1;
        st.next_seq = 0;
        st.epoch_confirmed = false;
        st.error = None;
        let epoch = st.epoch;
        drop(st);
        shared.bump();
        shared.wake.notify_one();
        Ok(epoch)
    }
}

fn check_json(item: &[u8]) -> Result<()> {
    serde_json::from_slice::<&RawValue>(item).map(|_| ()).map_err(|e| {
        Error::builder(ErrorKind::Parse, format!("producer item is not valid JSON: {e}"))
            .source(e)
            .build()
    })
}
