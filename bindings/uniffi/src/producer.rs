//! The idempotent producer: `append` never waits on the network; `flush`, `close_stream`,
//! `detach` and `restart` wait. Fatal errors go to the optional listener and to the next
//! awaited call, never silently away.

use std::sync::Arc;

use durastream::client as core;

use crate::error::{DurastreamError, Result};
use crate::runtime;
use crate::stream::CloseResult;

/// Receives the producer's fatal errors, from a background thread.
#[uniffi::export(foreign)]
pub trait ProducerErrorListener: Send + Sync {
    /// Called once per fatal error (the producer then refuses appends until `restart()`).
    fn on_error(&self, error: DurastreamError);
}

/// Settings of a producer; absent fields keep the core defaults. Validated when the
/// producer is made (`InvalidArgument` names the option).
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct ProducerOptions {
    /// Starting epoch (at least 0). Default 0.
    #[uniffi(default)]
    pub epoch: Option<i64>,
    /// On a stale epoch (403), take over at the server's epoch + 1. Default false.
    #[uniffi(default)]
    pub auto_claim: bool,
    /// Close a batch at this many bytes (at least 1). Default 1 MiB.
    #[uniffi(default)]
    pub max_batch_bytes: Option<i64>,
    /// Close a batch at this many items (at least 1). Default 10 000.
    #[uniffi(default)]
    pub max_batch_items: Option<i64>,
    /// Batches in flight at once (at least 1). Default 1.
    #[uniffi(default)]
    pub max_in_flight: Option<i64>,
    /// How long the first item of a batch may wait for company, in ms. Default 5.
    #[uniffi(default)]
    pub linger_ms: Option<f64>,
    /// Unacknowledged bytes above which `append` fails with `BufferFull` (and
    /// `appendWait` waits). At least 1. Default 16 MiB.
    #[uniffi(default)]
    pub max_buffered_bytes: Option<i64>,
    /// The stream's content type, if the stream handle does not know it yet.
    #[uniffi(default)]
    pub content_type: Option<String>,
}

/// The core options (validated by the core, with the producer id).
pub(crate) fn core_options(
    producer_id: Option<&str>,
    o: &ProducerOptions,
    on_error: Option<Arc<dyn ProducerErrorListener>>,
) -> Result<core::ProducerOptions> {
    let mut opts = core::ProducerOptions::from_raw(
        producer_id,
        o.epoch,
        o.max_batch_bytes,
        o.max_batch_items,
        o.max_in_flight,
        o.linger_ms,
    )?;
    opts.auto_claim = o.auto_claim;
    if let Some(n) = o.max_buffered_bytes {
        opts.max_buffered_bytes = usize::try_from(n).unwrap_or(0);
        opts.validate()?;
    }
    opts.content_type.clone_from(&o.content_type);
    if let Some(listener) = on_error {
        opts.on_error = Some(Arc::new(move |e: &core::Error| {
            listener.on_error(DurastreamError::from(e.clone()))
        }));
    }
    Ok(opts)
}

/// An idempotent producer (exactly-once appends, batched and pipelined). Thread-safe.
/// Releasing the handle (`close()` in Kotlin, deinit in Swift) flushes in the background
/// on a best-effort basis; call `flush()`, `detach()` or `closeStream()` to know the
/// outcome.
#[derive(uniffi::Object)]
pub struct Producer {
    inner: core::Producer,
}

impl Producer {
    pub(crate) fn from_core(inner: core::Producer) -> Self {
        Producer { inner }
    }
}

#[uniffi::export]
impl Producer {
    /// The producer id.
    pub fn id(&self) -> String {
        self.inner.id().to_string()
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch()
    }

    /// The next sequence number to be assigned in the current epoch.
    pub fn next_seq(&self) -> u64 {
        self.inner.next_seq()
    }

    /// The tail offset reported by the last acknowledged batch.
    pub fn last_offset(&self) -> Option<String> {
        self.inner.last_offset()
    }

    /// Bytes appended but not yet acknowledged.
    pub fn buffered_bytes(&self) -> u64 {
        self.inner.buffered_bytes() as u64
    }

    /// The fatal error that stopped the producer, if any.
    pub fn error(&self) -> Option<DurastreamError> {
        self.inner.error().map(DurastreamError::from)
    }

    /// Queues bytes; never waits. On a JSON stream they must be one JSON value. Fails with
    /// `BufferFull` when too much is unacknowledged, or with the producer's fatal error.
    pub fn append(&self, data: Vec<u8>) -> Result<()> {
        Ok(self.inner.append(data)?)
    }

    /// Queues UTF-8 text; never waits.
    pub fn append_text(&self, text: String) -> Result<()> {
        Ok(self.inner.append_text(&text)?)
    }

    /// Queues one JSON message given as JSON text (invalid JSON is a `Parse` error); never
    /// waits.
    pub fn append_json(&self, json: String) -> Result<()> {
        Ok(self.inner.append_json_text(&json)?)
    }

    /// Like `append`, but waits for room instead of failing with `BufferFull`.
    pub async fn append_wait(&self, data: Vec<u8>) -> Result<()> {
        let p = self.inner.clone();
        Ok(runtime::run(async move { p.append_wait(data).await }).await?)
    }

    /// Sends everything appended so far and waits until it is acknowledged.
    pub async fn flush(&self) -> Result<()> {
        let p = self.inner.clone();
        Ok(runtime::run(async move { p.flush().await }).await?)
    }

    /// Flushes, then closes the stream through this producer (idempotently), optionally
    /// appending a final message atomically. Calling it again returns the same result.
    #[uniffi::method(default(final_message))]
    pub async fn close_stream(&self, final_message: Option<Vec<u8>>) -> Result<CloseResult> {
        let p = self.inner.clone();
        let r = runtime::run(async move { p.close(final_message.as_deref()).await }).await?;
        Ok(CloseResult { final_offset: r.final_offset })
    }

    /// Flushes, then stops the producer without closing the stream.
    pub async fn detach(&self) -> Result<()> {
        let p = self.inner.clone();
        Ok(runtime::run(async move { p.detach().await }).await?)
    }

    /// Starts a new epoch at sequence 0, clearing a fatal error. Returns the new epoch.
    pub async fn restart(&self) -> Result<u64> {
        let p = self.inner.clone();
        Ok(runtime::run(async move { p.restart().await }).await?)
    }
}
