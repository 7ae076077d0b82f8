//! HTTP client for Durable Streams: stream handles, readers in every live mode, and the
//! idempotent producer.
//!
//! ```no_run
//! # async fn demo() -> durastream::client::Result<()> {
//! use durastream::client::{Client, CreateOptions, LiveMode, ReadOptions};
//!
//! let client = Client::new();
//! let stream = client.stream("http://127.0.0.1:4437/v1/stream/chat-1")?;
//! stream.create(CreateOptions::new().content_type("text/plain")).await?;
//! stream.append_text("hello").await?;
//! let mut reader = stream.read(ReadOptions::new().live(LiveMode::Auto));
//! while let Some(chunk) = reader.next_chunk().await? {
//!     println!("{:?} up to {}", chunk.data, chunk.next_offset);
//! }
//! # Ok(()) }
//! ```
//!
//! The client never builds a tokio runtime: call it from inside one. [`Producer`] spawns
//! one background task on the current runtime.
//!
//! What is retried is documented in [`retry`]; headers and query parameters can be
//! re-evaluated on every request ([`Value`]).

#![warn(missing_docs)]

mod error;
mod headers;
mod http;
mod json_split;
mod producer;
mod producer_worker;
mod read;
pub mod retry;
mod sse_read;
mod stream;
mod views;

use std::sync::Arc;
use std::time::Duration;

pub use error::{Error, ErrorKind, Result};
pub use headers::{Value, ValueFuture};
pub use json_split::split_json_array;
pub use producer::{ErrorCallback, Producer, ProducerOptions};
pub use read::{
    count_json_messages, invalid_json, Chunk, LiveMode, ReadOptions, Reader, StartOffset, Transport,
};
pub use retry::RetryOptions;
pub use stream::{
    AppendOptions, AppendResult, CloseResult, CreateOptions, CreateResult, DurableStream,
    ForkOptions, StreamInfo,
};
pub use views::{JsonBatch, JsonReader, TextChunk, TextReader};

use headers::ValueSet;

/// Entry point: shared connection pool, headers, parameters and retry policy. Cheap to
/// clone; clones share everything, including later header changes.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) headers: ValueSet,
    pub(crate) params: ValueSet,
    pub(crate) retry: RetryOptions,
    pub(crate) timeouts: Timeouts,
}

/// Client-side time limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening a connection. Default 10 s.
    pub connect: Duration,
    /// A whole non-live request, body included. Default 60 s.
    pub request: Duration,
    /// A whole long-poll request: must exceed the server's long-poll timeout. Default 120 s.
    pub long_poll: Duration,
    /// Silence on an open SSE connection before it is treated as dead and reopened.
    /// Servers send a control event at least every long-poll period. Default 120 s.
    pub sse_idle: Duration,
    /// In [`LiveMode::Auto`]: how long the first SSE event may take before the reader
    /// decides a proxy is buffering the stream and falls back to long-poll. Default 15 s.
    pub sse_first_event: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
            long_poll: Duration::from_secs(120),
            sse_idle: Duration::from_secs(120),
            sse_first_event: Duration::from_secs(15),
        }
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("retry", &self.inner.retry).finish_non_exhaustive()
    }
}

impl Client {
    /// A client with default settings.
    pub fn new() -> Client {
        // The default builder is valid by construction.
        Client::builder().build().unwrap_or_else(|_| Client::fallback())
    }

    fn fallback() -> Client {
        Client {
            inner: Arc::new(Inner {
                http: reqwest::Client::new(),
                headers: ValueSet::default(),
                params: ValueSet::default(),
                retry: RetryOptions::default(),
                timeouts: Timeouts::default(),
            }),
        }
    }

    /// A builder for a configured client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A handle on the stream at `url` (a full URL). No request is sent.
    pub fn stream(&self, url: &str) -> Result<DurableStream> {
        DurableStream::new(self.clone(), url)
    }

    /// Sets a header sent on every later request (replacing one of the same name).
    /// A [`Value::Dynamic`] is evaluated on each request.
    pub fn set_header(&self, name: &str, value: impl Into<Value>) {
        self.inner.headers.set(&name.to_ascii_lowercase(), value.into());
    }

    /// Stops sending a header set with [`Client::set_header`].
    pub fn remove_header(&self, name: &str) {
        self.inner.headers.remove(&name.to_ascii_lowercase());
    }

    /// Sets a query parameter added to every later request.
    pub fn set_param(&self, name: &str, value: impl Into<Value>) {
        self.inner.params.set(name, value.into());
    }

    /// Stops sending a query parameter set with [`Client::set_param`].
    pub fn remove_param(&self, name: &str) {
        self.inner.params.remove(name);
    }

    /// Removes every header and parameter set on the client.
    pub fn clear_dynamic(&self) {
        self.inner.headers.clear();
        self.inner.params.clear();
    }

    /// The retry policy in use.
    pub fn retry_options(&self) -> &RetryOptions {
        &self.inner.retry
    }

    /// The time limits in use.
    pub fn timeouts(&self) -> &Timeouts {
        &self.inner.timeouts
    }
}

/// Configures a [`Client`].
#[derive(Default)]
pub struct ClientBuilder {
    headers: Vec<(String, Value)>,
    params: Vec<(String, Value)>,
    retry: Option<RetryOptions>,
    timeouts: Option<Timeouts>,
    http: Option<reqwest::Client>,
}

impl ClientBuilder {
    /// A header for every request (fixed or dynamic).
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// A query parameter for every request (fixed or dynamic).
    pub fn param(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.params.push((name.to_string(), value.into()));
        self
    }

    /// The retry policy (validated by [`ClientBuilder::build`]).
    pub fn retry(mut self, retry: RetryOptions) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Client-side time limits.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = Some(timeouts);
        self
    }

    /// Uses an existing reqwest client (its own timeouts then apply too).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Validates the settings and builds the client.
    pub fn build(self) -> Result<Client> {
        let retry = self.retry.unwrap_or_default();
        retry.validate()?;
        let timeouts = self.timeouts.unwrap_or_default();
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .connect_timeout(timeouts.connect)
                .tcp_nodelay(true)
                .build()
                .map_err(|e| {
                    Error::builder(
                        ErrorKind::InvalidArgument,
                        format!("cannot build HTTP client: {e}"),
                    )
                    .source(e)
                    .build()
                })?,
        };
        let headers = ValueSet::default();
        for (k, v) in self.headers {
            headers.set(&k, v);
        }
        let params = ValueSet::default();
        for (k, v) in self.params {
            params.set(&k, v);
        }
        Ok(Client { inner: Arc::new(Inner { http, headers, params, retry, timeouts }) })
    }
}
