//! The client: connection pool, headers and query parameters (fixed or computed by the
//! foreign side on every request), retry policy and time limits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use durastream::client as core;

use crate::error::Result;
use crate::runtime;
use crate::stream::DurableStream;

/// Computes a header or query parameter value. Called on **every** request (first
/// attempts, retries, reconnects, producer batches), from a background thread: this is how
/// a long-lived reader keeps working while its token is refreshed. Keep it fast.
#[uniffi::export(foreign)]
pub trait HeaderProvider: Send + Sync {
    /// The value to send now.
    fn value(&self) -> String;
}

/// How transient failures are retried. Absent fields keep the core defaults (8 retries,
/// 100 ms initial delay, 5 s maximum, multiplier 2).
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct RetryConfig {
    /// Retries after the first attempt (0 disables retries). At least 0.
    #[uniffi(default)]
    pub max_retries: Option<i64>,
    /// Upper bound of the first backoff, in milliseconds. Greater than 0.
    #[uniffi(default)]
    pub initial_delay_ms: Option<f64>,
    /// Upper bound of any backoff, in milliseconds. At least `initialDelayMs`.
    #[uniffi(default)]
    pub max_delay_ms: Option<f64>,
    /// Growth of the backoff bound per attempt. At least 1.
    #[uniffi(default)]
    pub multiplier: Option<f64>,
    /// Retry plain appends when the server cannot have applied them. Default true.
    #[uniffi(default)]
    pub retry_plain_appends: Option<bool>,
}

/// Client-side time limits in milliseconds; absent fields keep the core defaults.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct TimeoutConfig {
    /// Opening a connection. Default 10 000.
    #[uniffi(default)]
    pub connect_ms: Option<u64>,
    /// A whole non-live request, body included. Default 60 000.
    #[uniffi(default)]
    pub request_ms: Option<u64>,
    /// A whole long-poll request (must exceed the server's long-poll timeout).
    /// Default 120 000.
    #[uniffi(default)]
    pub long_poll_ms: Option<u64>,
    /// Silence on an open SSE connection before it is reopened. Default 120 000.
    #[uniffi(default)]
    pub sse_idle_ms: Option<u64>,
    /// In `LiveMode.AUTO`: how long the first SSE event may take before the reader falls
    /// back to long-poll. Default 15 000.
    #[uniffi(default)]
    pub sse_first_event_ms: Option<u64>,
}

/// Settings of [`Client::with_options`].
#[derive(Clone, Default, uniffi::Record)]
pub struct ClientOptions {
    /// Fixed headers sent on every request.
    #[uniffi(default)]
    pub headers: HashMap<String, String>,
    /// Fixed query parameters added to every request.
    #[uniffi(default)]
    pub params: HashMap<String, String>,
    /// Retry policy (validated).
    #[uniffi(default)]
    pub retry: Option<RetryConfig>,
    /// Time limits.
    #[uniffi(default)]
    pub timeouts: Option<TimeoutConfig>,
}

/// Entry point of the client: one connection pool shared by every stream handle made from
/// it. Thread-safe.
#[derive(uniffi::Object)]
pub struct Client {
    inner: core::Client,
}

/// The core retry options for a [`RetryConfig`] (validated by the core).
pub(crate) fn retry_options(r: &RetryConfig) -> Result<core::RetryOptions> {
    let mut o = core::RetryOptions::from_raw(
        r.max_retries,
        r.initial_delay_ms,
        r.max_delay_ms,
        r.multiplier,
    )?;
    if let Some(b) = r.retry_plain_appends {
        o.retry_plain_appends = b;
    }
    Ok(o)
}

fn timeouts(t: &TimeoutConfig) -> core::Timeouts {
    let mut o = core::Timeouts::default();
    let set = |slot: &mut Duration, ms: Option<u64>| {
        if let Some(ms) = ms {
            *slot = Duration::from_millis(ms);
        }
    };
    set(&mut o.connect, t.connect_ms);
    set(&mut o.request, t.request_ms);
    set(&mut o.long_poll, t.long_poll_ms);
    set(&mut o.sse_idle, t.sse_idle_ms);
    set(&mut o.sse_first_event, t.sse_first_event_ms);
    o
}

fn dynamic(provider: Arc<dyn HeaderProvider>) -> core::Value {
    core::Value::from_fn(move || provider.value())
}

#[uniffi::export]
impl Client {
    /// A client with default settings.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        let _entered = runtime::get().enter();
        Arc::new(Client { inner: core::Client::new() })
    }

    /// A configured client. Fails with `InvalidArgument` on invalid retry options.
    #[uniffi::constructor]
    pub fn with_options(options: ClientOptions) -> Result<Arc<Self>> {
        let mut b = core::Client::builder();
        for (k, v) in &options.headers {
            b = b.header(k, v.as_str());
        }
        for (k, v) in &options.params {
            b = b.param(k, v.as_str());
        }
        if let Some(r) = &options.retry {
            b = b.retry(retry_options(r)?);
        }
        if let Some(t) = &options.timeouts {
            b = b.timeouts(timeouts(t));
        }
        let _entered = runtime::get().enter();
        Ok(Arc::new(Client { inner: b.build()? }))
    }

    /// A handle on the stream at `url` (a full http(s) URL). No request is sent.
    pub fn stream(&self, url: String) -> Result<Arc<DurableStream>> {
        Ok(Arc::new(DurableStream::from_core(self.inner.stream(&url)?)))
    }

    /// Sends this header, with this fixed value, on every later request.
    pub fn set_header(&self, name: String, value: String) {
        self.inner.set_header(&name, value);
    }

    /// Sends this header on every later request, asking `provider` for its value each time.
    pub fn set_dynamic_header(&self, name: String, provider: Arc<dyn HeaderProvider>) {
        self.inner.set_header(&name, dynamic(provider));
    }

    /// Stops sending a header set on the client.
    pub fn remove_header(&self, name: String) {
        self.inner.remove_header(&name);
    }

    /// Adds this query parameter, with this fixed value, to every later request.
    pub fn set_param(&self, name: String, value: String) {
        self.inner.set_param(&name, value);
    }

    /// Adds this query parameter to every later request, asking `provider` each time.
    pub fn set_dynamic_param(&self, name: String, provider: Arc<dyn HeaderProvider>) {
        self.inner.set_param(&name, dynamic(provider));
    }

    /// Stops sending a query parameter set on the client.
    pub fn remove_param(&self, name: String) {
        self.inner.remove_param(&name);
    }

    /// Removes every header and parameter set on the client (fixed or dynamic).
    pub fn clear_dynamic(&self) {
        self.inner.clear_dynamic();
    }
}
