//! Clients and stream handles: `NativeClient` (headers, parameters, retry policy, time
//! limits) and `NativeStream` (create, fork, append, close, head, delete, read, producer).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use durastream::client::{
    AppendOptions, Client, CreateOptions, DurableStream, ForkOptions, RetryOptions, Timeouts, Value,
};
use napi::bindgen_prelude::{Buffer, Either, Promise};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;
use napi_derive::napi;

use crate::error::{invalid_argument, to_napi};
use crate::producer::{NativeProducer, OnErrorFn, ProducerConfig};
use crate::reader::{live_mode, NativeReader};
use crate::runtime::{run, CancelToken};

/// A JavaScript function `() => Promise<string>` evaluated on every request. Weak: it never
/// keeps the process alive.
pub type ValueFn = ThreadsafeFunction<(), Promise<String>, (), Status, false, true>;

/// A request body: text (sent as UTF-8) or bytes.
pub type Body = Either<String, Buffer>;

pub(crate) fn body_bytes(body: Body) -> Bytes {
    match body {
        Either::A(s) => Bytes::from(s.into_bytes()),
        Either::B(b) => Bytes::copy_from_slice(&b),
    }
}

/// Retry policy, as in the core `RetryOptions` (absent fields keep their defaults).
#[napi(object)]
#[derive(Default)]
pub struct RetryConfig {
    /// Retries after the first attempt (0 disables retries).
    pub max_retries: Option<i64>,
    /// Upper bound of the first backoff, in ms.
    pub initial_delay_ms: Option<f64>,
    /// Upper bound of any backoff, in ms.
    pub max_delay_ms: Option<f64>,
    /// Growth of the backoff bound per attempt (at least 1).
    pub multiplier: Option<f64>,
    /// Retry plain appends when the server cannot have applied them (default true).
    pub retry_plain_appends: Option<bool>,
}

/// Client settings.
#[napi(object)]
#[derive(Default)]
pub struct ClientConfig {
    /// Retry policy.
    pub retry: Option<RetryConfig>,
    /// A whole non-live request, in ms (default 60 000).
    pub request_timeout_ms: Option<f64>,
    /// A whole long-poll request, in ms (default 120 000).
    pub long_poll_timeout_ms: Option<f64>,
    /// Silence on an SSE connection before it is reopened, in ms (default 120 000).
    pub sse_idle_timeout_ms: Option<f64>,
    /// Auto mode: wait for the first SSE event before falling back to long-poll, in ms.
    pub sse_first_event_timeout_ms: Option<f64>,
}

/// Validates retry options the way the core does (`RetryOptions::from_raw`).
pub fn retry_options(cfg: &RetryConfig) -> napi::Result<RetryOptions> {
    let mut r = RetryOptions::from_raw(
        cfg.max_retries,
        cfg.initial_delay_ms,
        cfg.max_delay_ms,
        cfg.multiplier,
    )
    .map_err(|e| to_napi(&e))?;
    if let Some(p) = cfg.retry_plain_appends {
        r.retry_plain_appends = p;
    }
    Ok(r)
}

fn millis(name: &'static str, v: Option<f64>, default: Duration) -> napi::Result<Duration> {
    match v {
        None => Ok(default),
        Some(ms) if ms.is_finite() && ms > 0.0 && ms < 1e12 => {
            Ok(Duration::from_secs_f64(ms / 1000.0))
        }
        Some(ms) => Err(invalid_argument(
            name,
            format!("{name} must be a positive number of ms (got {ms})"),
        )),
    }
}

/// One connection pool for the whole process: every `NativeClient` shares it, so handles
/// made per call (the JavaScript layer makes one per distinct set of headers) reuse
/// connections. Built with the core's default connect timeout and `TCP_NODELAY`.
fn shared_http() -> napi::Result<reqwest::Client> {
    static HTTP: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    HTTP.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Timeouts::default().connect)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(|e| invalid_argument("client", format!("cannot build HTTP client: {e}")))
}

fn dynamic(f: ValueFn) -> Value {
    let f = Arc::new(f);
    Value::from_async(move || {
        let f = f.clone();
        async move {
            let fail = |e: napi::Error| {
                durastream::client::Error::invalid_argument(
                    "headers",
                    format!("a header or parameter function failed: {}", e.reason),
                )
            };
            let promise = f.call_async(()).await.map_err(fail)?;
            promise.await.map_err(fail)
        }
    })
}

/// A configured client: headers and query parameters (fixed, or functions evaluated per
/// request), retry policy and time limits, over the process-wide connection pool.
#[napi]
pub struct NativeClient {
    inner: Client,
}

#[napi]
impl NativeClient {
    /// Builds a client; invalid retry options or time limits throw `InvalidArgumentError`.
    #[napi(constructor)]
    pub fn new(config: Option<ClientConfig>) -> napi::Result<Self> {
        let config = config.unwrap_or_default();
        let d = Timeouts::default();
        let timeouts = Timeouts {
            connect: d.connect,
            request: millis("requestTimeoutMs", config.request_timeout_ms, d.request)?,
            long_poll: millis("longPollTimeoutMs", config.long_poll_timeout_ms, d.long_poll)?,
            sse_idle: millis("sseIdleTimeoutMs", config.sse_idle_timeout_ms, d.sse_idle)?,
            sse_first_event: millis(
                "sseFirstEventTimeoutMs",
                config.sse_first_event_timeout_ms,
                d.sse_first_event,
            )?,
        };
        let retry = match &config.retry {
            Some(r) => retry_options(r)?,
            None => RetryOptions::default(),
        };
        let inner = Client::builder()
            .retry(retry)
            .timeouts(timeouts)
            .http_client(shared_http()?)
            .build()
            .map_err(|e| to_napi(&e))?;
        Ok(NativeClient { inner })
    }

    /// Sets a fixed header sent on every request.
    #[napi]
    pub fn set_header(&self, name: String, value: String) {
        self.inner.set_header(&name, value);
    }

    /// Sets a header computed by `f` on every request (first attempts, retries, reconnects).
    #[napi]
    pub fn set_header_fn(&self, name: String, f: ValueFn) {
        self.inner.set_header(&name, dynamic(f));
    }

    /// Sets a fixed query parameter sent on every request.
    #[napi]
    pub fn set_param(&self, name: String, value: String) {
        self.inner.set_param(&name, value);
    }

    /// Sets a query parameter computed by `f` on every request.
    #[napi]
    pub fn set_param_fn(&self, name: String, f: ValueFn) {
        self.inner.set_param(&name, dynamic(f));
    }

    /// Removes every header and parameter.
    #[napi]
    pub fn clear(&self) {
        self.inner.clear_dynamic();
    }

    /// A handle on the stream at `url` (no request is sent).
    #[napi]
    pub fn stream(&self, url: String) -> napi::Result<NativeStream> {
        let inner = self.inner.stream(&url).map_err(|e| to_napi(&e))?;
        Ok(NativeStream { inner })
    }
}

/// Options of `NativeStream.create`.
#[napi(object)]
#[derive(Default)]
pub struct CreateConfig {
    /// The stream's content type.
    pub content_type: Option<String>,
    /// Sliding time-to-live in seconds.
    pub ttl_seconds: Option<i64>,
    /// Absolute expiry (RFC 3339).
    pub expires_at: Option<String>,
    /// Create the stream already closed.
    pub closed: Option<bool>,
    /// Initial content.
    pub body: Option<Body>,
    /// Fork source (path or URL): creates a fork instead of an empty stream.
    pub fork_source: Option<String>,
    /// Fork divergence offset (default: the source's tail).
    pub fork_offset: Option<String>,
    /// Messages or bytes inherited past `forkOffset`.
    pub fork_sub_offset: Option<i64>,
}

/// Outcome of a create.
#[napi(object)]
pub struct CreateOutcome {
    /// True for `201 Created`, false when an identical stream existed.
    pub created: bool,
    /// 201 or 200.
    pub status: u32,
    /// The tail offset.
    pub next_offset: Option<String>,
    /// The stream's content type.
    pub content_type: Option<String>,
    /// The stream is closed.
    pub closed: bool,
}

/// Outcome of an append.
#[napi(object)]
pub struct AppendOutcome {
    /// The tail offset after the append.
    pub next_offset: String,
    /// The stream is now closed.
    pub closed: bool,
}

/// Stream metadata from `HEAD`.
#[napi(object)]
pub struct HeadOutcome {
    /// The content type.
    pub content_type: Option<String>,
    /// The tail offset.
    pub next_offset: String,
    /// Sliding TTL in seconds.
    pub ttl_seconds: Option<i64>,
    /// Absolute expiry (RFC 3339).
    pub expires_at: Option<String>,
    /// The stream is closed.
    pub closed: bool,
}

/// A handle on one stream.
#[napi]
pub struct NativeStream {
    pub(crate) inner: DurableStream,
}

#[napi]
impl NativeStream {
    /// The stream URL.
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.inner.url().to_string()
    }

    /// The content type, when known.
    #[napi(getter)]
    pub fn content_type(&self) -> Option<String> {
        self.inner.content_type()
    }

    /// Tells the handle the stream's content type (spares a HEAD before appends).
    #[napi]
    pub fn set_content_type(&self, content_type: String) {
        self.inner.set_content_type(content_type);
    }

    /// A handle that also sends this fixed header.
    #[napi]
    pub fn with_header(&self, name: String, value: String) -> napi::Result<NativeStream> {
        let inner = self.inner.with_header(&name, &value).map_err(|e| to_napi(&e))?;
        Ok(NativeStream { inner })
    }

    /// Creates the stream (or a fork), or confirms an identical one exists.
    #[napi]
    pub async fn create(
        &self,
        config: CreateConfig,
        cancel: &CancelToken,
    ) -> napi::Result<CreateOutcome> {
        let mut o = CreateOptions::new();
        o.content_type = config.content_type;
        o.expires_at = config.expires_at;
        o.closed = config.closed.unwrap_or(false);
        o.body = config.body.map(body_bytes);
        if let Some(ttl) = config.ttl_seconds {
            let ttl = u64::try_from(ttl)
                .map_err(|_| invalid_argument("ttlSeconds", "ttlSeconds must be >= 0"))?;
            o.ttl_seconds = Some(ttl);
        }
        if let Some(source) = config.fork_source {
            let sub = match config.fork_sub_offset {
                Some(n) => Some(u64::try_from(n).map_err(|_| {
                    invalid_argument("forkSubOffset", "forkSubOffset must be >= 0")
                })?),
                None => None,
            };
            o.fork = Some(ForkOptions { source, offset: config.fork_offset, sub_offset: sub });
        }
        let r = run(&cancel.token, self.inner.create(o)).await?;
        Ok(CreateOutcome {
            created: r.created,
            status: u32::from(r.status),
            next_offset: r.next_offset,
            content_type: r.content_type,
            closed: r.closed,
        })
    }

    /// Appends one body (`seq`: optional `Stream-Seq`).
    #[napi]
    pub async fn append(
        &self,
        body: Body,
        seq: Option<String>,
        content_type: Option<String>,
        cancel: &CancelToken,
    ) -> napi::Result<AppendOutcome> {
        let opts = AppendOptions { seq, content_type };
        let r = run(&cancel.token, self.inner.append_with(body_bytes(body), opts)).await?;
        Ok(AppendOutcome { next_offset: r.next_offset, closed: r.closed })
    }

    /// Appends one message: on a JSON stream the body is one JSON value (wrapped so that
    /// an array stays one message), otherwise raw bytes. Learns the content type with one
    /// HEAD when the handle does not know it.
    #[napi]
    pub async fn append_message(
        &self,
        body: Body,
        seq: Option<String>,
        cancel: &CancelToken,
    ) -> napi::Result<AppendOutcome> {
        let ct = match self.inner.content_type() {
            Some(ct) => ct,
            None => run(&cancel.token, self.inner.head()).await?.content_type.unwrap_or_default(),
        };
        let mut data = body_bytes(body);
        if durastream::json::is_json(&ct) {
            data = Bytes::from(durastream::json::wrap_message(&data));
        }
        let opts = AppendOptions { seq, content_type: None };
        let r = run(&cancel.token, self.inner.append_with(data, opts)).await?;
        Ok(AppendOutcome { next_offset: r.next_offset, closed: r.closed })
    }

    /// Closes the stream, optionally with a final message; resolves to the final offset.
    #[napi]
    pub async fn close(&self, body: Option<Body>, cancel: &CancelToken) -> napi::Result<String> {
        let r = match body.map(body_bytes) {
            Some(b) if !b.is_empty() => run(&cancel.token, self.inner.close_with(b)).await?,
            _ => run(&cancel.token, self.inner.close()).await?,
        };
        Ok(r.final_offset)
    }

    /// Stream metadata.
    #[napi]
    pub async fn head(&self, cancel: &CancelToken) -> napi::Result<HeadOutcome> {
        let i = run(&cancel.token, self.inner.head()).await?;
        Ok(HeadOutcome {
            content_type: i.content_type,
            next_offset: i.next_offset,
            ttl_seconds: i.ttl_seconds.and_then(|t| i64::try_from(t).ok()),
            expires_at: i.expires_at,
            closed: i.closed,
        })
    }

    /// Deletes the stream.
    #[napi]
    pub async fn delete(&self, cancel: &CancelToken) -> napi::Result<()> {
        run(&cancel.token, self.inner.delete()).await
    }

    /// A reader from `offset` (`-1`, `now` or an offset) in `live` mode (`off`,
    /// `long-poll`, `sse`, `auto`). Nothing is sent until its first `next()`.
    #[napi]
    pub fn read(
        &self,
        offset: Option<String>,
        live: String,
        cursor: Option<String>,
    ) -> napi::Result<NativeReader> {
        let mode = live_mode(&live)?;
        Ok(NativeReader::new(&self.inner, offset, mode, cursor))
    }

    /// An idempotent producer on this stream (its background task starts at once).
    #[napi]
    pub fn producer(
        &self,
        producer_id: String,
        config: ProducerConfig,
        on_error: Option<OnErrorFn>,
    ) -> napi::Result<NativeProducer> {
        NativeProducer::new(&self.inner, &producer_id, config, on_error)
    }
}

/// Validates retry options without building a client (throws `InvalidArgumentError`).
#[napi]
pub fn validate_retry_options(config: RetryConfig) -> napi::Result<()> {
    retry_options(&config).map(|_| ())
}
