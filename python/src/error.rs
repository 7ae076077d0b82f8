//! Client errors → Python exceptions, in one place.
//!
//! Every [`ErrorKind`] maps to one class of `durastream.errors` ([`class_name`]); the
//! exception carries the core error's facts as attributes (`status`, `url`,
//! `stream_path`, `expected_seq`, `received_seq`, `current_epoch`, `final_offset`,
//! `retry_after`, `retryable`, `attempts`, `argument`). `tests/test_errors.py` pins the
//! table through [`error_classes`].

use durastream::client::{Error, ErrorKind};
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

/// Every kind the core defines, with the Python class it raises.
const CLASSES: &[(ErrorKind, &str)] = &[
    (ErrorKind::NotFound, "StreamNotFoundError"),
    (ErrorKind::Gone, "StreamGoneError"),
    (ErrorKind::Conflict, "StreamConflictError"),
    (ErrorKind::StreamClosed, "StreamClosedError"),
    (ErrorKind::SequenceConflict, "SeqConflictError"),
    (ErrorKind::SequenceGap, "SequenceGapError"),
    (ErrorKind::StaleEpoch, "StaleEpochError"),
    (ErrorKind::BadRequest, "BadRequestError"),
    (ErrorKind::InvalidOffset, "InvalidOffsetError"),
    (ErrorKind::Unauthorized, "UnauthorizedError"),
    (ErrorKind::UnexpectedStatus, "UnexpectedStatusError"),
    (ErrorKind::RetryExhausted, "RetryExhaustedError"),
    (ErrorKind::Parse, "ParseError"),
    (ErrorKind::Network, "NetworkError"),
    (ErrorKind::Timeout, "RequestTimeoutError"),
    (ErrorKind::InvalidArgument, "InvalidArgumentError"),
    (ErrorKind::BufferFull, "BufferFullError"),
    (ErrorKind::ProducerClosed, "ProducerClosedError"),
];

/// The `durastream.errors` class raised for a kind (the base class for kinds added to the
/// core later).
pub fn class_name(kind: ErrorKind) -> &'static str {
    CLASSES.iter().find(|(k, _)| *k == kind).map_or("DurableStreamError", |(_, name)| name)
}

/// Why an operation failed: a client error, or an error already in Python form.
pub enum Fail {
    /// An error from the core client.
    Core(Error),
    /// A Python exception (bad argument, object used after fork, ...).
    Py(PyErr),
    /// An I/O error from the bundled server.
    Io(std::io::Error),
    /// A State Protocol error.
    State(durastream::state::Error),
}

impl From<durastream::state::Error> for Fail {
    fn from(e: durastream::state::Error) -> Self {
        Fail::State(e)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Core(e)
    }
}

impl From<PyErr> for Fail {
    fn from(e: PyErr) -> Self {
        Fail::Py(e)
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Fail::Io(e)
    }
}

impl Fail {
    /// The Python exception to raise.
    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self {
            Fail::Core(e) => to_pyerr(py, &e),
            Fail::Py(e) => e,
            Fail::Io(e) => PyOSError::new_err(e.to_string()),
            Fail::State(e) => state_to_pyerr(py, &e),
        }
    }
}

/// Converts a core error into an instance of its `durastream.errors` class.
pub fn to_pyerr(py: Python<'_>, e: &Error) -> PyErr {
    match build(py, e) {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// Shorthand for `Result<T, PyErr>` conversion of core results.
pub fn py<T>(r: durastream::client::Result<T>) -> PyResult<T> {
    Python::attach(|py| r.map_err(|e| to_pyerr(py, &e)))
}

fn build<'py>(py: Python<'py>, e: &Error) -> PyResult<Bound<'py, PyAny>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module =
        MODULE.get_or_try_init(py, || py.import("durastream.errors").map(Bound::unbind))?;
    let class = module.bind(py).getattr(class_name(e.kind()))?;
    let kw = PyDict::new(py);
    kw.set_item("code", e.code())?;
    kw.set_item("status", e.status())?;
    kw.set_item("url", e.url())?;
    kw.set_item("stream_path", e.stream_path())?;
    kw.set_item("expected_seq", e.expected_seq())?;
    kw.set_item("received_seq", e.received_seq())?;
    kw.set_item("current_epoch", e.current_epoch())?;
    kw.set_item("final_offset", e.final_offset())?;
    kw.set_item("retry_after", e.retry_after().map(|d| d.as_secs_f64()))?;
    kw.set_item("retryable", e.is_retryable())?;
    kw.set_item("attempts", e.attempts())?;
    kw.set_item("argument", e.argument())?;
    class.call((e.message(),), Some(&kw))
}

/// Converts a State Protocol error: a stream error raises the client error underneath
/// (its own class); every other kind raises `durastream.errors.StateError` with the
/// core's `code` and the facts `field`, `index` and `offset`.
pub fn state_to_pyerr(py: Python<'_>, e: &durastream::state::Error) -> PyErr {
    if let Some(client) = e.client_error() {
        return to_pyerr(py, client);
    }
    match build_state(py, e) {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// Shorthand for `Result<T, PyErr>` conversion of State Protocol results.
pub fn state_py<T>(r: durastream::state::Result<T>) -> PyResult<T> {
    Python::attach(|py| r.map_err(|e| state_to_pyerr(py, &e)))
}

fn build_state<'py>(py: Python<'py>, e: &durastream::state::Error) -> PyResult<Bound<'py, PyAny>> {
    let class = py.import("durastream.errors")?.getattr("StateError")?;
    let kw = PyDict::new(py);
    kw.set_item("code", e.code())?;
    kw.set_item("retryable", e.is_retryable())?;
    kw.set_item("field", e.field())?;
    kw.set_item("index", e.index())?;
    kw.set_item("offset", e.offset())?;
    class.call((e.message(),), Some(&kw))
}

/// `(code, class name)` for every error kind: the mapping the tests pin.
#[pyfunction]
pub fn error_classes() -> Vec<(&'static str, &'static str)> {
    CLASSES.iter().map(|(k, name)| (k.code(), *name)).collect()
}
