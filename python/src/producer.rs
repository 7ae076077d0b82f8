//! `Producer`: the core idempotent producer. `append` copies the item into the open batch
//! and returns at once; `flush`, `close`, `detach`, `restart` and `append_wait` return a
//! `Pending`. Fatal errors reach the `on_error` callable (called from the runtime's thread
//! with the exception) and the next awaited call.

use std::sync::Arc;

use durastream::client::{DurableStream, ErrorKind, Producer, ProducerOptions};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::error::{py as check, to_pyerr, Fail};
use crate::runtime::{self, check_pid, pending, Pending};

/// An idempotent producer writing to one stream.
#[pyclass(name = "Producer", module = "durastream._durastream", frozen)]
pub struct PyProducer {
    inner: Producer,
    pid: u32,
}

impl PyProducer {
    pub(crate) fn start(
        stream: &DurableStream,
        id: &str,
        mut opts: ProducerOptions,
        on_error: Option<Py<PyAny>>,
    ) -> PyResult<PyProducer> {
        if let Some(cb) = on_error {
            let cb = Arc::new(cb);
            opts.on_error = Some(Arc::new(move |e| {
                Python::attach(|py| {
                    let exc = to_pyerr(py, e).into_value(py);
                    if let Err(err) = cb.call1(py, (exc,)) {
                        err.write_unraisable(py, Some(cb.bind(py)));
                    }
                });
            }));
        }
        // The producer spawns its background task on the current runtime.
        let _entered = runtime::get()?.enter();
        let inner = check(stream.producer(id, opts))?;
        Ok(PyProducer { inner, pid: std::process::id() })
    }

    fn live(&self) -> PyResult<&Producer> {
        check_pid(self.pid, "producer")?;
        Ok(&self.inner)
    }
}

#[pymethods]
impl PyProducer {
    /// Queues one item (bytes) without waiting on the network. Raises `BufferFullError`
    /// when too much is unacknowledged, or the producer's fatal error.
    fn append(&self, item: &Bound<'_, PyBytes>) -> PyResult<()> {
        check(self.live()?.append(item.as_bytes()))
    }

    /// Queues `value` as one JSON message, serialised straight from the Python objects
    /// (`dict` with `str` keys, `list`, `tuple`, `str`, `int`, `float`, `bool`, `None`).
    /// Returns `False` without queueing anything when the value holds another type (the
    /// caller then serialises it itself and uses `append`).
    fn append_json(&self, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        match self.live()?.append_json(&PyJson(value, 0)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::InvalidArgument && e.argument() == Some("value") => {
                Ok(false)
            }
            Err(e) => check(Err(e)),
        }
    }

    /// Like `append`, but waits for buffer room instead of raising `BufferFullError`.
    fn append_wait(&self, item: &Bound<'_, PyBytes>) -> PyResult<Pending> {
        let p = self.live()?.clone();
        let item = item.as_bytes().to_vec();
        Ok(pending(async move {
            p.append_wait(item).await?;
            Ok::<_, Fail>(())
        }))
    }

    /// Sends everything appended so far and resolves once it is acknowledged.
    fn flush(&self) -> PyResult<Pending> {
        let p = self.live()?.clone();
        Ok(pending(async move {
            p.flush().await?;
            Ok::<_, Fail>(())
        }))
    }

    /// Flushes, then closes the stream through the producer (optionally appending
    /// `final_message` atomically). Resolves to the final offset.
    #[pyo3(signature = (final_message=None))]
    fn close(&self, final_message: Option<&Bound<'_, PyBytes>>) -> PyResult<Pending> {
        let p = self.live()?.clone();
        let body = final_message.map(|b| b.as_bytes().to_vec());
        Ok(pending(async move {
            let r = p.close(body.as_deref()).await?;
            Ok::<_, Fail>(r.final_offset)
        }))
    }

    /// Flushes, then stops the producer without closing the stream.
    fn detach(&self) -> PyResult<Pending> {
        let p = self.live()?.clone();
        Ok(pending(async move {
            p.detach().await?;
            Ok::<_, Fail>(())
        }))
    }

    /// Starts a new epoch at sequence 0, clearing a fatal error. Resolves to the epoch.
    fn restart(&self) -> PyResult<Pending> {
        let p = self.live()?.clone();
        Ok(pending(async move { Ok::<_, Fail>(p.restart().await?) }))
    }

    /// The producer id.
    #[getter]
    fn id(&self) -> &str {
        self.inner.id()
    }

    /// The current epoch.
    #[getter]
    fn epoch(&self) -> u64 {
        self.inner.epoch()
    }

    /// The next sequence number to be assigned in the current epoch.
    #[getter]
    fn next_seq(&self) -> u64 {
        self.inner.next_seq()
    }

    /// The tail offset reported by the last acknowledged batch.
    #[getter]
    fn last_offset(&self) -> Option<String> {
        self.inner.last_offset()
    }

    /// Bytes appended but not yet acknowledged.
    #[getter]
    fn buffered_bytes(&self) -> usize {
        self.inner.buffered_bytes()
    }

    /// Items appended and not yet acknowledged (the core's `pending_items`).
    #[getter]
    fn pending_count(&self) -> u64 {
        self.inner.pending_items()
    }

    /// Batches sent and waiting for the server's answer.
    #[getter]
    fn in_flight_count(&self) -> usize {
        self.inner.in_flight_batches()
    }

    /// The fatal error that stopped the producer, as an exception instance, if any.
    #[getter]
    fn error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.inner.error().map(|e| to_pyerr(py, &e).into_value(py).into_any())
    }
}

/// Serialises a Python value as JSON the way `json.dumps` would (for the supported types).
struct PyJson<'a, 'py>(&'a Bound<'py, PyAny>, u16);

/// Deeper values are left to `json.dumps` (which also detects cycles).
const MAX_DEPTH: u16 = 64;

impl Serialize for PyJson<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (o, depth) = (self.0, self.1);
        if depth > MAX_DEPTH {
            return Err(S::Error::custom("value nested too deeply"));
        }
        if o.is_none() {
            s.serialize_unit()
        } else if let Ok(b) = o.cast::<PyBool>() {
            s.serialize_bool(b.is_true())
        } else if let Ok(v) = o.cast::<PyString>() {
            s.serialize_str(&v.to_cow().map_err(S::Error::custom)?)
        } else if let Ok(i) = o.cast::<PyInt>() {
            match i.extract::<i64>() {
                Ok(v) => s.serialize_i64(v),
                Err(_) => s.serialize_u64(i.extract::<u64>().map_err(S::Error::custom)?),
            }
        } else if let Ok(f) = o.cast::<PyFloat>() {
            let v = f.value();
            if !v.is_finite() {
                return Err(S::Error::custom("NaN and infinity are not JSON"));
            }
            s.serialize_f64(v)
        } else if let Ok(d) = o.cast::<PyDict>() {
            let mut map = s.serialize_map(Some(d.len()))?;
            for (k, v) in d.iter() {
                let key = k.cast::<PyString>().map_err(|_| S::Error::custom("non-str key"))?;
                let key = key.to_cow().map_err(S::Error::custom)?;
                map.serialize_entry(&*key, &PyJson(&v, depth + 1))?;
            }
            map.end()
        } else if let Ok(l) = o.cast::<PyList>() {
            let mut seq = s.serialize_seq(Some(l.len()))?;
            for v in l.iter() {
                seq.serialize_element(&PyJson(&v, depth + 1))?;
            }
            seq.end()
        } else if let Ok(t) = o.cast::<PyTuple>() {
            let mut seq = s.serialize_seq(Some(t.len()))?;
            for v in t.iter() {
                seq.serialize_element(&PyJson(&v, depth + 1))?;
            }
            seq.end()
        } else {
            Err(S::Error::custom("unsupported type"))
        }
    }
}
