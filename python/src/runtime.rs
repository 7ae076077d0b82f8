//! The extension's one tokio runtime, and how Python waits for work done on it.
//!
//! # Why the runtime is created lazily, once per process
//!
//! Python programs fork: `multiprocessing`'s default start method on Linux, and pre-fork
//! servers (gunicorn, celery) fork after importing everything. A forked child gets a copy of
//! the parent's memory but only the thread that called `fork()`; a tokio runtime inherited
//! that way has no worker threads, no I/O driver and no timer, so anything spawned on it in
//! the child would never run and the child would hang. Building the runtime at import time
//! would also start threads in processes that only import the module.
//!
//! So [`get`] builds the runtime on first use and remembers the pid that built it. In a
//! forked child the pid differs and a fresh runtime is built; the inherited one is leaked on
//! purpose (dropping it would try to join threads that do not exist in the child). Each
//! process thus builds at most one runtime, which lives until the process exits. Objects
//! whose state lives on the parent's runtime (open readers, producers, servers) check the
//! pid and refuse to run in a child; clients rebuild their connection pool there.
//!
//! # Waiting from Python
//!
//! Every network operation is a [`Pending`]: a boxed future that does nothing until it is
//! either waited for synchronously ([`Pending::wait`]: the calling thread runs the future
//! with the GIL released and checks for signals every 50 ms, so Ctrl-C stops a live read)
//! or awaited from asyncio (`await pending`: the future is spawned on the runtime and
//! bridged to an `asyncio.Future`; cancelling that future aborts the Rust task, dropping
//! its HTTP request).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyTimeoutError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCFunction;
use pyo3::IntoPyObjectExt;
use tokio::runtime::Runtime;

use crate::error::Fail;

/// The process that built the current runtime, and the runtime.
static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

/// How often a blocked synchronous call checks for signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// The runtime of this process, built on first use (see the module docs).
pub fn get() -> PyResult<&'static Runtime> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((owner, rt)) = *slot {
        if owner == pid {
            return Ok(rt);
        }
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("durastream-rt")
        .enable_all()
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the tokio runtime: {e}")))?;
    // One runtime per process, kept until exit (see the module docs).
    let rt: &'static Runtime = Box::leak(Box::new(rt));
    *slot = Some((pid, rt));
    Ok(rt)
}

/// Fails when an object created in a parent process is used after `fork()`.
pub fn check_pid(owner: u32, what: &str) -> PyResult<()> {
    if owner == std::process::id() {
        Ok(())
    } else {
        Err(PyRuntimeError::new_err(format!(
            "this {what} was created before os.fork() and cannot be used in the child process; \
             create a new one"
        )))
    }
}

/// Converts a finished operation's output into a Python object (run with the GIL held).
pub type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// A boxed operation.
pub type BoxFuture = Pin<Box<dyn Future<Output = Result<Convert, Fail>> + Send>>;

/// Wraps a future whose output converts into a Python object.
pub fn pending<F, T>(fut: F) -> Pending
where
    F: Future<Output = Result<T, Fail>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    Pending::new(Box::pin(async move {
        let value = fut.await?;
        let convert: Convert = Box::new(move |py| value.into_py_any(py));
        Ok(convert)
    }))
}

/// Wraps a future that builds its Python result itself.
pub fn pending_with<F>(fut: F) -> Pending
where
    F: Future<Output = Result<Convert, Fail>> + Send + 'static,
{
    Pending::new(Box::pin(fut))
}

/// A network operation not started yet: call `wait()` from synchronous code, or `await` it
/// from asyncio. Each one runs at most once.
#[pyclass(module = "durastream._durastream", frozen)]
pub struct Pending {
    fut: Mutex<Option<BoxFuture>>,
}

impl Pending {
    fn new(fut: BoxFuture) -> Pending {
        Pending { fut: Mutex::new(Some(fut)) }
    }

    fn take(&self) -> PyResult<BoxFuture> {
        self.fut
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this operation was already started"))
    }
}

enum Waited {
    Done(Result<Convert, Fail>),
    Interrupted(PyErr),
    TimedOut,
}

#[pymethods]
impl Pending {
    /// Runs the operation on the calling thread with the GIL released and returns its
    /// result. Signals are checked every 50 ms, so Ctrl-C interrupts a live read (the
    /// request is dropped). With `timeout` (seconds), gives up after that long by raising
    /// the built-in `TimeoutError`; the operation is then abandoned.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let mut fut = self.take()?;
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(PyRuntimeError::new_err(
                "a blocking durastream call cannot run inside a durastream callback; \
                 use the async API there",
            ));
        }
        let limit = match timeout {
            Some(t) if !(t.is_finite() && t >= 0.0) => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "timeout must be a non-negative number of seconds",
                ))
            }
            Some(t) => Some(Duration::from_secs_f64(t)),
            None => None,
        };
        let rt = get()?;
        let waited = py.detach(move || {
            rt.block_on(async move {
                let deadline = limit.map(|l| tokio::time::Instant::now() + l);
                loop {
                    let tick = match deadline {
                        Some(d) => d.min(tokio::time::Instant::now() + SIGNAL_CHECK),
                        None => tokio::time::Instant::now() + SIGNAL_CHECK,
                    };
                    tokio::select! {
                        out = &mut fut => return Waited::Done(out),
                        () = tokio::time::sleep_until(tick) => {
                            if let Err(e) = Python::attach(|py| py.check_signals()) {
                                return Waited::Interrupted(e);
                            }
                            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                                return Waited::TimedOut;
                            }
                        }
                    }
                }
            })
        });
        match waited {
            Waited::Done(Ok(convert)) => convert(py),
            Waited::Done(Err(fail)) => Err(fail.into_pyerr(py)),
            Waited::Interrupted(e) => Err(e),
            Waited::TimedOut => Err(PyTimeoutError::new_err("durastream operation timed out")),
        }
    }

    /// Makes the operation awaitable from asyncio: it runs on the extension's runtime and
    /// cancelling the awaiting task aborts it.
    fn __await__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let fut = self.take()?;
        to_asyncio(py, fut)?.call_method0("__await__")
    }
}

/// Spawns `fut` on the runtime and returns an `asyncio.Future` of the running loop that
/// receives its result. Cancelling the asyncio future aborts the task.
fn to_asyncio(py: Python<'_>, fut: BoxFuture) -> PyResult<Bound<'_, PyAny>> {
    static ASYNCIO: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let asyncio = ASYNCIO.get_or_try_init(py, || py.import("asyncio").map(Bound::unbind))?;
    let event_loop = asyncio.bind(py).call_method0("get_running_loop")?;
    let future = event_loop.call_method0("create_future")?;
    let rt = get()?;
    let target = future.clone().unbind();
    let loop_ref = event_loop.unbind();
    let task = rt.spawn(async move {
        let out = fut.await;
        Python::attach(move |py| {
            let (ok, value) = match out.map_err(|f| f.into_pyerr(py)).and_then(|c| c(py)) {
                Ok(v) => (true, v),
                Err(e) => (false, e.into_value(py).into_any()),
            };
            let delivered = resolver(py).and_then(|resolve| {
                loop_ref.call_method1(py, "call_soon_threadsafe", (resolve, target, ok, value))
            });
            // The loop may be closed already: nobody is waiting any more.
            drop(delivered);
        });
    });
    future.call_method1("add_done_callback", (AbortOnCancel { task: task.abort_handle() },))?;
    Ok(future)
}

/// `_resolve(future, ok, value)`, run on the event loop's thread.
fn resolver(py: Python<'_>) -> PyResult<&Py<PyCFunction>> {
    static RESOLVE: PyOnceLock<Py<PyCFunction>> = PyOnceLock::new();
    RESOLVE.get_or_try_init(py, || wrap_pyfunction!(resolve, py).map(Bound::unbind))
}

/// Sets the result or exception of an asyncio future unless it is already done
/// (cancelled).
#[pyfunction]
fn resolve(future: &Bound<'_, PyAny>, ok: bool, value: Bound<'_, PyAny>) -> PyResult<()> {
    if future.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    if ok {
        future.call_method1("set_result", (value,))?;
    } else {
        future.call_method1("set_exception", (value,))?;
    }
    Ok(())
}

/// Done-callback of a bridged asyncio future: aborts the Rust task when the future was
/// cancelled.
#[pyclass(module = "durastream._durastream", frozen)]
struct AbortOnCancel {
    task: tokio::task::AbortHandle,
}

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.task.abort();
        }
        Ok(())
    }
}
