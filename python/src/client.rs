//! `Client` (headers, parameters, retry policy, time limits) and `Stream` (one stream's
//! operations), adapting `durastream::client::{Client, DurableStream}`.
//!
//! Both rebuild their core object in a forked child: a core client's connection pool
//! belongs to the runtime that opened its connections (see `runtime.rs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use durastream::client::{
    AppendOptions, Client, CreateOptions, DurableStream, Error, ForkOptions, LiveMode,
    ProducerOptions, ReadOptions, RetryOptions, StartOffset, Timeouts, Value,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::error::{py as check, Fail};
use crate::producer::PyProducer;
use crate::reader::PyReader;
use crate::runtime::{pending, Pending};

/// A header or parameter: fixed text, or a Python callable returning `str` per request.
#[derive(Clone)]
enum Spec {
    Fixed(String),
    Callable(Arc<Py<PyAny>>),
}

impl Spec {
    fn from_py(value: &Bound<'_, PyAny>, what: &'static str) -> PyResult<Spec> {
        if value.is_instance_of::<PyString>() {
            return Ok(Spec::Fixed(value.extract::<String>()?));
        }
        if value.is_callable() {
            return Ok(Spec::Callable(Arc::new(value.clone().unbind())));
        }
        Err(PyTypeError::new_err(format!("{what} values must be str or a callable returning str")))
    }

    fn value(&self, what: &'static str) -> Value {
        match self {
            Spec::Fixed(s) => Value::fixed(s.clone()),
            Spec::Callable(f) => {
                let f = f.clone();
                Value::from_async(move || {
                    let out = Python::attach(|py| {
                        f.call0(py).and_then(|v| v.extract::<String>(py)).map_err(|e| {
                            Error::invalid_argument(
                                what,
                                format!("{what} callable failed: {}", e.value(py)),
                            )
                        })
                    });
                    async move { out }
                })
            }
        }
    }
}

/// What a core client is built from (kept to rebuild it after fork).
struct Config {
    headers: Mutex<Vec<(String, Spec)>>,
    params: Mutex<Vec<(String, Spec)>>,
    retry: RetryOptions,
    timeouts: Timeouts,
}

/// Shared by a `Client` and the streams made from it.
pub(crate) struct ClientInner {
    config: Config,
    built: Mutex<Option<(u32, Client)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Replaces (or with `None` removes) the entry called `name`.
fn upsert(list: &mut Vec<(String, Spec)>, name: &str, spec: Option<Spec>, fold: bool) {
    list.retain(|(k, _)| if fold { !k.eq_ignore_ascii_case(name) } else { k != name });
    if let Some(spec) = spec {
        list.push((name.to_string(), spec));
    }
}

impl ClientInner {
    /// The core client of this process.
    pub(crate) fn core(&self) -> PyResult<Client> {
        let pid = std::process::id();
        let mut slot = self.built.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((owner, c)) = slot.as_ref() {
            if *owner == pid {
                return Ok(c.clone());
            }
        }
        let mut b = Client::builder().retry(self.config.retry.clone());
        b = b.timeouts(self.config.timeouts.clone());
        for (k, v) in lock(&self.config.headers).iter() {
            b = b.header(k, v.value("headers"));
        }
        for (k, v) in lock(&self.config.params).iter() {
            b = b.param(k, v.value("params"));
        }
        let client = check(b.build())?;
        *slot = Some((pid, client.clone()));
        Ok(client)
    }
}

fn specs(d: Option<&Bound<'_, PyDict>>, what: &'static str) -> PyResult<Vec<(String, Spec)>> {
    let mut out = Vec::new();
    if let Some(d) = d {
        for (k, v) in d.iter() {
            if v.is_none() {
                continue;
            }
            out.push((k.extract::<String>()?, Spec::from_py(&v, what)?));
        }
    }
    Ok(out)
}

fn seconds(v: Option<f64>, name: &str) -> PyResult<Option<Duration>> {
    match v {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => Err(PyValueError::new_err(format!(
            "{name} must be a positive number of seconds (got {s})"
        ))),
    }
}

/// Validates retry options (the spelling of the error names the option, camelCase).
#[pyfunction]
#[pyo3(signature = (max_retries=None, initial_delay_ms=None, max_delay_ms=None, multiplier=None))]
pub fn validate_retry_options(
    max_retries: Option<i64>,
    initial_delay_ms: Option<f64>,
    max_delay_ms: Option<f64>,
    multiplier: Option<f64>,
) -> PyResult<()> {
    check(RetryOptions::from_raw(max_retries, initial_delay_ms, max_delay_ms, multiplier))
        .map(|_| ())
}

/// Validates idempotent-producer options.
#[pyfunction]
#[pyo3(signature = (producer_id=None, epoch=None, max_batch_bytes=None, max_batch_items=None, max_in_flight=None, linger_ms=None))]
pub fn validate_producer_options(
    producer_id: Option<&str>,
    epoch: Option<i64>,
    max_batch_bytes: Option<i64>,
    max_batch_items: Option<i64>,
    max_in_flight: Option<i64>,
    linger_ms: Option<f64>,
) -> PyResult<()> {
    check(ProducerOptions::from_raw(
        producer_id,
        epoch,
        max_batch_bytes,
        max_batch_items,
        max_in_flight,
        linger_ms,
    ))
    .map(|_| ())
}

/// Headers, query parameters, retry policy and time limits shared by the streams made from
/// it. Header and parameter values are `str` or callables evaluated on every request.
#[pyclass(name = "Client", module = "durastream._durastream", frozen)]
pub struct PyClient {
    pub(crate) inner: Arc<ClientInner>,
}

#[pymethods]
impl PyClient {
    /// Builds a client; retry options are validated (`InvalidArgumentError`).
    #[new]
    #[pyo3(signature = (headers=None, params=None, max_retries=None, initial_delay_ms=None, max_delay_ms=None, multiplier=None, retry_plain_appends=None, timeout=None, connect_timeout=None, long_poll_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        headers: Option<&Bound<'_, PyDict>>,
        params: Option<&Bound<'_, PyDict>>,
        max_retries: Option<i64>,
        initial_delay_ms: Option<f64>,
        max_delay_ms: Option<f64>,
        multiplier: Option<f64>,
        retry_plain_appends: Option<bool>,
        timeout: Option<f64>,
        connect_timeout: Option<f64>,
        long_poll_timeout: Option<f64>,
    ) -> PyResult<Self> {
        let mut retry =
            check(RetryOptions::from_raw(max_retries, initial_delay_ms, max_delay_ms, multiplier))?;
        if let Some(p) = retry_plain_appends {
            retry.retry_plain_appends = p;
        }
        let mut timeouts = Timeouts::default();
        if let Some(t) = seconds(timeout, "timeout")? {
            timeouts.request = t;
        }
        if let Some(t) = seconds(connect_timeout, "connect_timeout")? {
            timeouts.connect = t;
        }
        if let Some(t) = seconds(long_poll_timeout, "long_poll_timeout")? {
            timeouts.long_poll = t;
        }
        let inner = Arc::new(ClientInner {
            config: Config {
                headers: Mutex::new(specs(headers, "headers")?),
                params: Mutex::new(specs(params, "params")?),
                retry,
                timeouts,
            },
            built: Mutex::new(None),
        });
        inner.core()?;
        Ok(PyClient { inner })
    }

    /// Sets a header sent on every later request by this client's handles (replacing one
    /// of the same name); `value` is `str` or a callable evaluated per request.
    fn set_header(&self, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let spec = Spec::from_py(value, "headers")?;
        upsert(&mut lock(&self.inner.config.headers), name, Some(spec.clone()), true);
        self.inner.core()?.set_header(name, spec.value("headers"));
        Ok(())
    }

    /// Stops sending a header.
    fn remove_header(&self, name: &str) -> PyResult<()> {
        upsert(&mut lock(&self.inner.config.headers), name, None, true);
        self.inner.core()?.remove_header(name);
        Ok(())
    }

    /// Sets a query parameter added to every later request (`str` or a callable).
    fn set_param(&self, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let spec = Spec::from_py(value, "params")?;
        upsert(&mut lock(&self.inner.config.params), name, Some(spec.clone()), false);
        self.inner.core()?.set_param(name, spec.value("params"));
        Ok(())
    }

    /// Stops sending a query parameter.
    fn remove_param(&self, name: &str) -> PyResult<()> {
        upsert(&mut lock(&self.inner.config.params), name, None, false);
        self.inner.core()?.remove_param(name);
        Ok(())
    }

    /// Removes every header and parameter set on the client.
    fn clear_dynamic(&self) -> PyResult<()> {
        lock(&self.inner.config.headers).clear();
        lock(&self.inner.config.params).clear();
        self.inner.core()?.clear_dynamic();
        Ok(())
    }

    /// A handle on the stream at `url` (no request is sent). `headers` are extra fixed
    /// headers for this handle only.
    #[pyo3(signature = (url, headers=None, content_type=None))]
    fn stream(
        &self,
        url: &str,
        headers: Option<Vec<(String, String)>>,
        content_type: Option<String>,
    ) -> PyResult<PyStream> {
        let s = PyStream {
            client: self.inner.clone(),
            url: url.to_string(),
            headers: headers.unwrap_or_default(),
            known_type: Mutex::new(content_type),
            built: Mutex::new(None),
        };
        s.core()?;
        Ok(s)
    }
}

/// One stream's operations. Each network operation returns a `Pending`.
#[pyclass(name = "Stream", module = "durastream._durastream", frozen)]
pub struct PyStream {
    client: Arc<ClientInner>,
    url: String,
    headers: Vec<(String, String)>,
    /// Content type given by the caller, seeding handles rebuilt after fork.
    known_type: Mutex<Option<String>>,
    built: Mutex<Option<(u32, DurableStream)>>,
}

impl PyStream {
    pub(crate) fn core(&self) -> PyResult<DurableStream> {
        let pid = std::process::id();
        let mut slot = self.built.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((owner, s)) = slot.as_ref() {
            if *owner == pid {
                return Ok(s.clone());
            }
        }
        let previous = slot.as_ref().and_then(|(_, s)| s.content_type());
        let mut s = check(self.client.core()?.stream(&self.url))?;
        for (k, v) in &self.headers {
            s = check(s.with_header(k, v))?;
        }
        let known = self.known_type.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(ct) = previous.or_else(|| known.clone()) {
            s.set_content_type(ct);
        }
        *slot = Some((pid, s.clone()));
        Ok(s)
    }
}

fn bytes_of(b: Option<&Bound<'_, PyBytes>>) -> Option<Bytes> {
    b.map(|b| Bytes::copy_from_slice(b.as_bytes()))
}

#[pymethods]
impl PyStream {
    /// The stream URL.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// The stream's content type when known (from create, connect, head, a read, or the
    /// caller).
    #[getter]
    fn content_type(&self) -> PyResult<Option<String>> {
        Ok(self.core()?.content_type())
    }

    /// Tells the handle the stream's content type, sparing a HEAD before appends.
    #[setter]
    fn set_content_type(&self, ct: String) -> PyResult<()> {
        self.core()?.set_content_type(ct.clone());
        *self.known_type.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(ct);
        Ok(())
    }

    /// `PUT`: creates the stream (or a fork of `fork_source`). Resolves to
    /// `(created, status, next_offset, content_type, closed)`.
    #[pyo3(signature = (content_type=None, ttl_seconds=None, expires_at=None, closed=false, body=None, fork_source=None, fork_offset=None, fork_sub_offset=None))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        &self,
        content_type: Option<String>,
        ttl_seconds: Option<u64>,
        expires_at: Option<String>,
        closed: bool,
        body: Option<&Bound<'_, PyBytes>>,
        fork_source: Option<String>,
        fork_offset: Option<String>,
        fork_sub_offset: Option<u64>,
    ) -> PyResult<Pending> {
        let s = self.core()?;
        let opts = CreateOptions {
            content_type,
            ttl_seconds,
            expires_at,
            closed,
            body: bytes_of(body),
            fork: fork_source.map(|source| ForkOptions {
                source,
                offset: fork_offset,
                sub_offset: fork_sub_offset,
            }),
        };
        Ok(pending(async move {
            let r = s.create(opts).await?;
            Ok::<_, Fail>((r.created, r.status, r.next_offset, r.content_type, r.closed))
        }))
    }

    /// `HEAD`: resolves to `(content_type, next_offset, ttl_seconds, expires_at, closed)`.
    fn head(&self) -> PyResult<Pending> {
        let s = self.core()?;
        Ok(pending(async move {
            let i = s.head().await?;
            Ok::<_, Fail>((i.content_type, i.next_offset, i.ttl_seconds, i.expires_at, i.closed))
        }))
    }

    /// `DELETE`: resolves to `None`.
    fn delete(&self) -> PyResult<Pending> {
        let s = self.core()?;
        Ok(pending(async move {
            s.delete().await?;
            Ok::<_, Fail>(())
        }))
    }

    /// `POST`: appends `body` as is. Resolves to `(next_offset, closed)`.
    #[pyo3(signature = (body, seq=None, content_type=None))]
    fn append(
        &self,
        body: &Bound<'_, PyBytes>,
        seq: Option<String>,
        content_type: Option<String>,
    ) -> PyResult<Pending> {
        let s = self.core()?;
        let body = Bytes::copy_from_slice(body.as_bytes());
        Ok(pending(async move {
            let r = s.append_with(body, AppendOptions { seq, content_type }).await?;
            Ok::<_, Fail>((r.next_offset, r.closed))
        }))
    }

    /// Closes the stream, optionally appending `final_message` atomically. Resolves to the
    /// final offset.
    #[pyo3(signature = (final_message=None))]
    fn close(&self, final_message: Option<&Bound<'_, PyBytes>>) -> PyResult<Pending> {
        let s = self.core()?;
        let body = bytes_of(final_message).filter(|b| !b.is_empty());
        Ok(pending(async move {
            let r = match body {
                Some(b) => s.close_with(b).await?,
                None => s.close().await?,
            };
            Ok::<_, Fail>(r.final_offset)
        }))
    }

    /// A reader from `offset` (`"-1"`, `"now"` or an offset) in live mode `live`
    /// (`"off"`, `"long-poll"`, `"sse"`, `"auto"`). Nothing is sent until the first read.
    #[pyo3(signature = (offset="-1", live="off", cursor=None))]
    fn read(&self, offset: &str, live: &str, cursor: Option<String>) -> PyResult<PyReader> {
        let live: LiveMode = live.parse().map_err(|e: durastream::client::Error| {
            PyValueError::new_err(e.message().to_string())
        })?;
        let mut opts = ReadOptions::new().offset(StartOffset::from(offset)).live(live);
        opts.cursor = cursor;
        Ok(PyReader::new(self.core()?.read(opts)))
    }

    /// Starts an idempotent producer on this stream (validated: `InvalidArgumentError`).
    #[pyo3(signature = (producer_id, epoch=0, auto_claim=false, max_batch_bytes=None, max_batch_items=None, linger_ms=None, max_in_flight=None, max_buffered_bytes=None, content_type=None, on_error=None))]
    #[allow(clippy::too_many_arguments)]
    fn producer(
        &self,
        producer_id: &str,
        epoch: i64,
        auto_claim: bool,
        max_batch_bytes: Option<i64>,
        max_batch_items: Option<i64>,
        linger_ms: Option<f64>,
        max_in_flight: Option<i64>,
        max_buffered_bytes: Option<i64>,
        content_type: Option<String>,
        on_error: Option<Py<PyAny>>,
    ) -> PyResult<PyProducer> {
        let mut opts = check(ProducerOptions::from_raw(
            Some(producer_id),
            Some(epoch),
            max_batch_bytes,
            max_batch_items,
            max_in_flight,
            linger_ms,
        ))?;
        opts.auto_claim = auto_claim;
        if let Some(n) = max_buffered_bytes {
            match usize::try_from(n) {
                Ok(v) if v > 0 => opts.max_buffered_bytes = v,
                _ => {
                    return check(Err(Error::invalid_argument(
                        "maxBufferedBytes",
                        format!("producer maxBufferedBytes must be at least 1 (got {n})"),
                    )))
                }
            }
        }
        opts.content_type = content_type;
        PyProducer::start(&self.core()?, producer_id, opts, on_error)
    }
}
