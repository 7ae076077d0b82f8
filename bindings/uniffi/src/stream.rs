//! A handle on one stream: create (and fork), append, close, inspect, delete, read, and
//! make producers.

use std::sync::Arc;

use durastream::client as core;
use serde_json::value::RawValue;

use crate::error::{DurastreamError, Result};
use crate::producer::{self, Producer, ProducerErrorListener, ProducerOptions};
use crate::reader::{JsonReader, ReadOptions, Reader};
use crate::runtime;

/// Options of [`DurableStream::create`].
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct CreateOptions {
    /// The stream's content type (`application/json` makes a JSON stream). Without it the
    /// server picks `application/octet-stream`; a fork inherits its source's.
    #[uniffi(default)]
    pub content_type: Option<String>,
    /// Sliding time-to-live in seconds.
    #[uniffi(default)]
    pub ttl_seconds: Option<u64>,
    /// Absolute expiry, RFC 3339.
    #[uniffi(default)]
    pub expires_at: Option<String>,
    /// Create the stream already closed (`body` is then its whole content).
    #[uniffi(default)]
    pub closed: bool,
    /// Initial content.
    #[uniffi(default)]
    pub body: Option<Vec<u8>>,
}

/// Where a fork branches off its source.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ForkOptions {
    /// The source stream: its path on the same server, or its full URL.
    pub source: String,
    /// Divergence offset (one the server returned); default: the source's tail.
    #[uniffi(default)]
    pub offset: Option<String>,
    /// Messages (JSON streams) or bytes (other types) inherited past `offset`.
    #[uniffi(default)]
    pub sub_offset: Option<u64>,
}

/// Outcome of a create.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CreateResult {
    /// True for `201 Created`; false when an identical stream already existed (`200`).
    pub created: bool,
    /// The HTTP status (201 or 200).
    pub status: u16,
    /// The tail offset after any initial content.
    pub next_offset: Option<String>,
    /// The stream's content type, as the server reports it.
    pub content_type: Option<String>,
    /// The stream is closed.
    pub closed: bool,
}

/// Options of [`DurableStream::append_with`].
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct AppendOptions {
    /// `Stream-Seq`: a writer sequence that must increase (byte-wise). Makes the append
    /// safe to retry.
    #[uniffi(default)]
    pub seq: Option<String>,
    /// Content type to send; default: the stream's.
    #[uniffi(default)]
    pub content_type: Option<String>,
}

/// Outcome of an append.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AppendResult {
    /// The tail offset after the append.
    pub next_offset: String,
    /// The stream is now closed.
    pub closed: bool,
}

/// Outcome of a close.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CloseResult {
    /// The stream's final offset.
    pub final_offset: String,
}

/// Stream metadata (`HEAD`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StreamInfo {
    /// The stream's content type.
    pub content_type: Option<String>,
    /// The tail offset.
    pub next_offset: String,
    /// Sliding TTL in seconds, if set.
    pub ttl_seconds: Option<u64>,
    /// Absolute expiry (RFC 3339), if set.
    pub expires_at: Option<String>,
    /// The stream is closed.
    pub closed: bool,
}

/// A handle on the stream at one URL. Thread-safe; no request is sent until a method is
/// called. Methods that send are `suspend` (Kotlin) / `async` (Swift).
#[derive(uniffi::Object)]
pub struct DurableStream {
    inner: core::DurableStream,
}

impl DurableStream {
    pub(crate) fn from_core(inner: core::DurableStream) -> Self {
        DurableStream { inner }
    }

    pub(crate) fn handle(&self) -> core::DurableStream {
        self.inner.clone()
    }
}

fn create_options(o: CreateOptions) -> core::CreateOptions {
    core::CreateOptions {
        content_type: o.content_type,
        ttl_seconds: o.ttl_seconds,
        expires_at: o.expires_at,
        closed: o.closed,
        body: o.body.map(Into::into),
        fork: None,
    }
}

fn create_result(r: core::CreateResult) -> CreateResult {
    CreateResult {
        created: r.created,
        status: r.status,
        next_offset: r.next_offset,
        content_type: r.content_type,
        closed: r.closed,
    }
}

fn append_result(r: core::AppendResult) -> AppendResult {
    AppendResult { next_offset: r.next_offset, closed: r.closed }
}

/// One JSON message given as text, checked before anything is sent.
fn json_message(text: String) -> Result<Box<RawValue>> {
    RawValue::from_string(text).map_err(|e| {
        DurastreamError::invalid_argument("json", format!("not a valid JSON message: {e}"))
    })
}

#[uniffi::export]
impl DurableStream {
    /// The stream URL.
    pub fn url(&self) -> String {
        self.inner.url().to_string()
    }

    /// The path component of the URL (what a fork's `source` names).
    pub fn path(&self) -> String {
        self.inner.path().to_string()
    }

    /// The content type, if known (from create, head, a read, or `setContentType`).
    pub fn content_type(&self) -> Option<String> {
        self.inner.content_type()
    }

    /// Tells the handle the stream's content type, sparing a HEAD before the first append.
    pub fn set_content_type(&self, content_type: String) {
        self.inner.set_content_type(content_type);
    }

    /// A handle that also sends this fixed header on every request it makes.
    pub fn with_header(&self, name: String, value: String) -> Result<Arc<DurableStream>> {
        Ok(Arc::new(DurableStream { inner: self.inner.with_header(&name, &value)? }))
    }

    /// Creates the stream, or confirms that an identical one exists (`created` false).
    #[uniffi::method(default(options))]
    pub async fn create(&self, options: CreateOptions) -> Result<CreateResult> {
        let s = self.handle();
        let r = runtime::run(async move { s.create(create_options(options)).await }).await?;
        Ok(create_result(r))
    }

    /// Creates this stream as a fork of `fork.source`.
    #[uniffi::method(default(options))]
    pub async fn create_fork(
        &self,
        fork: ForkOptions,
        options: CreateOptions,
    ) -> Result<CreateResult> {
        let s = self.handle();
        let fork = core::ForkOptions {
            source: fork.source,
            offset: fork.offset,
            sub_offset: fork.sub_offset,
        };
        let r =
            runtime::run(async move { s.create_fork(fork, create_options(options)).await }).await?;
        Ok(create_result(r))
    }

    /// Stream metadata (`HEAD`).
    pub async fn head(&self) -> Result<StreamInfo> {
        let s = self.handle();
        let i = runtime::run(async move { s.head().await }).await?;
        Ok(StreamInfo {
            content_type: i.content_type,
            next_offset: i.next_offset,
            ttl_seconds: i.ttl_seconds,
            expires_at: i.expires_at,
            closed: i.closed,
        })
    }

    /// Deletes the stream.
    pub async fn delete(&self) -> Result<()> {
        let s = self.handle();
        Ok(runtime::run(async move { s.delete().await }).await?)
    }

    /// Appends bytes with the stream's content type. On a JSON stream they must be one JSON
    /// value (a top-level array is flattened one level by the server).
    pub async fn append(&self, data: Vec<u8>) -> Result<AppendResult> {
        let s = self.handle();
        Ok(append_result(runtime::run(async move { s.append(data).await }).await?))
    }

    /// Appends UTF-8 text.
    pub async fn append_text(&self, text: String) -> Result<AppendResult> {
        let s = self.handle();
        Ok(append_result(runtime::run(async move { s.append_text(&text).await }).await?))
    }

    /// Appends one JSON message, given as JSON text (an array stays one message).
    pub async fn append_json(&self, json: String) -> Result<AppendResult> {
        let value = json_message(json)?;
        let s = self.handle();
        Ok(append_result(runtime::run(async move { s.append_json(&*value).await }).await?))
    }

    /// Appends several JSON messages (each given as JSON text) in one request.
    pub async fn append_json_batch(&self, items: Vec<String>) -> Result<AppendResult> {
        let values = items.into_iter().map(json_message).collect::<Result<Vec<_>>>()?;
        let s = self.handle();
        Ok(append_result(runtime::run(async move { s.append_json_batch(&values).await }).await?))
    }

    /// Appends with options (`Stream-Seq`, content type).
    pub async fn append_with(&self, data: Vec<u8>, options: AppendOptions) -> Result<AppendResult> {
        let s = self.handle();
        let o = core::AppendOptions { seq: options.seq, content_type: options.content_type };
        Ok(append_result(runtime::run(async move { s.append_with(data, o).await }).await?))
    }

    /// Closes the stream on the server (no more appends), optionally appending a final
    /// message atomically. Closing a closed stream without a final message succeeds.
    /// (Named `closeStream` because `close()` frees the handle in Kotlin.)
    #[uniffi::method(default(final_message))]
    pub async fn close_stream(&self, final_message: Option<Vec<u8>>) -> Result<CloseResult> {
        let s = self.handle();
        let r = runtime::run(async move {
            match final_message {
                Some(m) if !m.is_empty() => s.close_with(m).await,
                _ => s.close().await,
            }
        })
        .await?;
        Ok(CloseResult { final_offset: r.final_offset })
    }

    /// A reader of chunks. Nothing is sent until its first `next()`.
    #[uniffi::method(default(options))]
    pub fn read(&self, options: ReadOptions) -> Arc<Reader> {
        Arc::new(Reader::new(self.inner.read(options.into_core())))
    }

    /// A reader of JSON messages (JSON streams), batch by batch.
    #[uniffi::method(default(options))]
    pub fn read_json(&self, options: ReadOptions) -> Arc<JsonReader> {
        Arc::new(JsonReader::new(self.inner.read(options.into_core()).json()))
    }

    /// An idempotent producer writing to this stream. `onError` receives every fatal error
    /// (also returned by the next awaited call).
    #[uniffi::method(default(on_error = None, options))]
    pub fn producer(
        &self,
        producer_id: String,
        options: ProducerOptions,
        on_error: Option<Arc<dyn ProducerErrorListener>>,
    ) -> Result<Arc<Producer>> {
        let opts = producer::core_options(Some(&producer_id), &options, on_error)?;
        // The core producer spawns its background task on the current runtime.
        let _entered = runtime::get().enter();
        Ok(Arc::new(Producer::from_core(self.inner.producer(&producer_id, opts)?)))
    }
}
