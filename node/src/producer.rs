//! The idempotent producer: `append` queues without waiting on the network; `flush`,
//! `close`, `detach` and `restart` wait. Fatal errors go to the `onError` callback (called
//! on the JavaScript thread, never keeping the process alive) and to the next awaited call.

use std::sync::Arc;

use durastream::client::{DurableStream, Producer, ProducerOptions};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;

use crate::client::{body_bytes, Body};
use crate::error::{encode, invalid_argument, to_napi};
use crate::runtime::{enter, run, CancelToken};

/// `onError(encodedError)`: receives every fatal producer error. Weak: never keeps the
/// process alive.
pub type OnErrorFn = ThreadsafeFunction<String, (), String, Status, false, true>;

/// Producer settings (absent fields keep the core defaults).
#[napi(object)]
#[derive(Default)]
pub struct ProducerConfig {
    /// Starting epoch (default 0).
    pub epoch: Option<i64>,
    /// On a stale epoch, take over at the server's epoch + 1.
    pub auto_claim: Option<bool>,
    /// Close a batch at this many bytes (default 1 MiB).
    pub max_batch_bytes: Option<i64>,
    /// Close a batch at this many items (default 10 000).
    pub max_batch_items: Option<i64>,
    /// Batches in flight at once (default 1).
    pub max_in_flight: Option<i64>,
    /// How long a batch's first item waits for company, in ms (default 5).
    pub linger_ms: Option<f64>,
    /// Unacknowledged bytes above which `append` throws `BufferFullError` (default 16 MiB).
    pub max_buffered_bytes: Option<i64>,
    /// The stream's content type, when the handle does not know it.
    pub content_type: Option<String>,
}

/// Validates producer options like the core (`ProducerOptions::from_raw`).
pub fn producer_options(id: Option<&str>, c: &ProducerConfig) -> napi::Result<ProducerOptions> {
    let mut o = ProducerOptions::from_raw(
        id,
        c.epoch,
        c.max_batch_bytes,
        c.max_batch_items,
        c.max_in_flight,
        c.linger_ms,
    )
    .map_err(|e| to_napi(&e))?;
    o.auto_claim = c.auto_claim.unwrap_or(false);
    o.content_type.clone_from(&c.content_type);
    if let Some(n) = c.max_buffered_bytes {
        o.max_buffered_bytes = usize::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid_argument("maxBufferedBytes", "maxBufferedBytes must be >= 1"))?;
    }
    Ok(o)
}

/// Validates producer options without a stream (throws `InvalidArgumentError`).
#[napi]
pub fn validate_producer_options(
    producer_id: Option<String>,
    config: ProducerConfig,
) -> napi::Result<()> {
    producer_options(producer_id.as_deref(), &config).map(|_| ())
}

/// An idempotent producer. See the module docs.
#[napi]
pub struct NativeProducer {
    inner: Producer,
}

impl NativeProducer {
    pub(crate) fn new(
        stream: &DurableStream,
        id: &str,
        config: ProducerConfig,
        on_error: Option<OnErrorFn>,
    ) -> napi::Result<NativeProducer> {
        let mut opts = producer_options(Some(id), &config)?;
        if let Some(f) = on_error {
            let f = Arc::new(f);
            opts.on_error = Some(Arc::new(move |e| {
                f.call(encode(e), ThreadsafeFunctionCallMode::NonBlocking);
            }));
        }
        let inner = enter(|| stream.producer(id, opts)).map_err(|e| to_napi(&e))?;
        Ok(NativeProducer { inner })
    }
}

#[napi]
impl NativeProducer {
    /// Queues one item (text or bytes; on a JSON stream one JSON value). Never waits;
    /// throws `BufferFullError` past `maxBufferedBytes`, or the producer's fatal error.
    #[napi]
    pub fn append(&self, item: Body) -> napi::Result<()> {
        let r = match &item {
            napi::bindgen_prelude::Either::A(s) => self.inner.append(s.as_bytes()),
            napi::bindgen_prelude::Either::B(b) => self.inner.append(&b[..]),
        };
        r.map_err(|e| to_napi(&e))
    }

    /// Queues many items at once (same rules as `append`).
    #[napi]
    pub fn append_many(&self, items: Vec<String>) -> napi::Result<()> {
        for s in &items {
            self.inner.append(s.as_bytes()).map_err(|e| to_napi(&e))?;
        }
        Ok(())
    }

    /// Like `append`, but waits for buffer room instead of throwing `BufferFullError`.
    #[napi]
    pub async fn append_wait(&self, item: Body, cancel: &CancelToken) -> napi::Result<()> {
        let bytes = body_bytes(item);
        run(&cancel.token, self.inner.append_wait(bytes)).await
    }

    /// Sends everything queued and waits until it is acknowledged.
    #[napi]
    pub async fn flush(&self, cancel: &CancelToken) -> napi::Result<()> {
        run(&cancel.token, self.inner.flush()).await
    }

    /// Flushes, then closes the stream through the producer (idempotent), optionally with
    /// a final message. Resolves to the final offset.
    #[napi]
    pub async fn close(&self, body: Option<Body>, cancel: &CancelToken) -> napi::Result<String> {
        let body = body.map(body_bytes);
        let r = run(&cancel.token, self.inner.close(body.as_deref())).await?;
        Ok(r.final_offset)
    }

    /// Flushes, then stops the producer without closing the stream.
    #[napi]
    pub async fn detach(&self, cancel: &CancelToken) -> napi::Result<()> {
        run(&cancel.token, self.inner.detach()).await
    }

    /// Starts a new epoch at sequence 0, clearing a fatal error. Resolves to the epoch.
    #[napi]
    pub async fn restart(&self, cancel: &CancelToken) -> napi::Result<i64> {
        let epoch = run(&cancel.token, self.inner.restart()).await?;
        i64::try_from(epoch).map_err(|_| invalid_argument("epoch", "epoch out of range"))
    }

    /// The producer id.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.id().to_string()
    }

    /// The current epoch.
    #[napi(getter)]
    pub fn epoch(&self) -> i64 {
        i64::try_from(self.inner.epoch()).unwrap_or(i64::MAX)
    }

    /// The next sequence number to be assigned.
    #[napi(getter)]
    pub fn next_seq(&self) -> i64 {
        i64::try_from(self.inner.next_seq()).unwrap_or(i64::MAX)
    }

    /// The tail offset from the last acknowledged batch.
    #[napi(getter)]
    pub fn last_offset(&self) -> Option<String> {
        self.inner.last_offset()
    }

    /// Bytes appended but not yet acknowledged.
    #[napi(getter)]
    pub fn buffered_bytes(&self) -> i64 {
        i64::try_from(self.inner.buffered_bytes()).unwrap_or(i64::MAX)
    }

    /// Items appended and not yet acknowledged (the core's `pending_items`).
    #[napi(getter)]
    pub fn pending_count(&self) -> i64 {
        i64::try_from(self.inner.pending_items()).unwrap_or(i64::MAX)
    }

    /// Batches sent and waiting for the server's answer.
    #[napi(getter)]
    pub fn in_flight_count(&self) -> i64 {
        i64::try_from(self.inner.in_flight_batches()).unwrap_or(i64::MAX)
    }

    /// The fatal error that stopped the producer (encoded), if any.
    #[napi(getter)]
    pub fn error(&self) -> Option<String> {
        self.inner.error().map(|e| encode(&e))
    }
}
