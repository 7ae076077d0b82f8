//! `Reader` and `Chunk`: a core `Reader` read in batches of chunks, with read-ahead.
//!
//! `next_batch(max_chunks)` crosses the boundary once for up to `max_chunks` responses. It
//! waits for the first chunk, then takes the ones already fetched and returns while the next
//! fetch runs on the runtime (one response of read-ahead), so while Python works on one
//! chunk the next is on its way; it also returns at a chunk that is up to date (or closed),
//! so live reads deliver each chunk as it arrives. Chunks fetched but not yet delivered are
//! kept across a cancelled call, so cancellation never loses data.
//!
//! The JSON read paths turn the reader's own JSON check off (`set_check_json(False)`) and
//! parse each chunk once, with [`Chunk::items`](PyChunk::items) ([`crate::json_load`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use durastream::client::{Chunk, Reader, Result};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::error::{to_pyerr, Fail};
use crate::runtime::{check_pid, pending_with, Convert, Pending};

/// One response (or SSE event pair) of a read.
#[pyclass(name = "Chunk", module = "durastream._durastream", frozen)]
pub struct PyChunk {
    /// The bytes, handed to Python as `bytes` on first use.
    bytes: Bytes,
    data: PyOnceLock<Py<PyBytes>>,
    /// The offset to resume from.
    #[pyo3(get)]
    next_offset: String,
    /// The reader had everything that existed when this was sent.
    #[pyo3(get)]
    up_to_date: bool,
    /// The stream is closed and this chunk holds its last bytes.
    #[pyo3(get)]
    closed: bool,
    /// The cursor the server sent.
    #[pyo3(get)]
    cursor: Option<String>,
    /// HTTP status: 200, or 204 for a long-poll that timed out without data.
    #[pyo3(get)]
    status: u16,
    /// `data` is a JSON array of messages.
    #[pyo3(get)]
    json: bool,
    /// The chunk carries no data (no bytes, or a JSON array with no message).
    #[pyo3(get)]
    empty: bool,
}

impl PyChunk {
    fn from_core(c: Chunk) -> PyChunk {
        PyChunk {
            // A JSON chunk without bytes (a long-poll 204) carries no message either.
            empty: c.data.is_empty() || c.is_empty(),
            bytes: c.data,
            data: PyOnceLock::new(),
            next_offset: c.next_offset,
            up_to_date: c.up_to_date,
            closed: c.closed,
            cursor: c.cursor,
            status: c.status,
            json: c.json,
        }
    }
}

#[pymethods]
impl PyChunk {
    /// The bytes (for JSON streams a JSON array of messages; may be empty).
    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyBytes> {
        self.data.get_or_init(py, || PyBytes::new(py, &self.bytes).unbind()).clone_ref(py)
    }

    /// The JSON messages of the chunk as a list (parsed from the bytes in one pass; bad
    /// JSON raises `ParseError`).
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.bytes.is_empty() {
            return Ok(PyList::empty(py).into_any());
        }
        let items = crate::json_load::loads(py, &self.bytes)?;
        if items.is_instance_of::<PyList>() {
            Ok(items)
        } else {
            Err(to_pyerr(py, &durastream::client::invalid_json("a chunk is not a JSON array")))
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Chunk(next_offset={:?}, up_to_date={}, closed={}, status={})",
            self.next_offset, self.up_to_date, self.closed, self.status
        )
    }
}

/// What a reader owns between calls.
struct State {
    /// The core reader, unless a read-ahead task has it.
    reader: Option<Reader>,
    /// The read-ahead task: it fetches one chunk and hands the reader back.
    ahead: Option<JoinHandle<(Reader, Result<Option<Chunk>>)>>,
    /// Chunks fetched and not delivered yet.
    ready: Vec<Chunk>,
    /// The reader ended (or was lost to an aborted task).
    done: bool,
}

impl Drop for State {
    fn drop(&mut self) {
        // A read-ahead must not outlive its reader (a live read would run forever).
        if let Some(h) = self.ahead.take() {
            h.abort();
        }
    }
}

impl State {
    /// Records one fetch. A failure is returned only when nothing is ready to deliver;
    /// otherwise the next call meets it again (the core reader resumes from its offset).
    fn take(&mut self, r: Result<Option<Chunk>>) -> Result<bool, Fail> {
        match r {
            Ok(Some(c)) => {
                self.ready.push(c);
                Ok(true)
            }
            Ok(None) => {
                self.done = true;
                Ok(false)
            }
            Err(e) if self.ready.is_empty() => Err(Fail::Core(e)),
            Err(_) => Ok(false),
        }
    }

    fn batch_complete(&self, max: usize) -> bool {
        self.ready.last().is_some_and(|c| self.ready.len() >= max || c.up_to_date || c.closed)
    }

    /// Starts fetching the next chunk on the runtime, unless a fetch runs or the reader is
    /// gone.
    fn fetch_ahead(&mut self, check_json: bool) {
        if self.ahead.is_some() {
            return;
        }
        if let Some(mut reader) = self.reader.take() {
            reader.set_check_json(check_json);
            self.ahead = Some(tokio::spawn(async move {
                let r = reader.next_chunk().await;
                (reader, r)
            }));
        }
    }
}

/// Reads one stream from a start offset in one live mode.
#[pyclass(name = "Reader", module = "durastream._durastream", frozen)]
pub struct PyReader {
    state: Arc<Mutex<State>>,
    closed: Arc<AtomicBool>,
    check_json: Arc<AtomicBool>,
    pid: u32,
}

impl PyReader {
    pub(crate) fn new(reader: Reader) -> PyReader {
        PyReader {
            state: Arc::new(Mutex::new(State {
                reader: Some(reader),
                ahead: None,
                ready: Vec::new(),
                done: false,
            })),
            closed: Arc::new(AtomicBool::new(false)),
            check_json: Arc::new(AtomicBool::new(true)),
            pid: std::process::id(),
        }
    }
}

async fn next_batch(
    state: &Mutex<State>,
    closed: &AtomicBool,
    check_json: bool,
    max: usize,
) -> Result<Vec<Chunk>, Fail> {
    let mut guard = state.lock().await;
    let st = &mut *guard;
    while !st.done && !closed.load(Ordering::Relaxed) && !st.batch_complete(max) {
        st.fetch_ahead(check_json);
        let Some(handle) = st.ahead.as_mut() else {
            st.done = true;
            break;
        };
        if !st.ready.is_empty() && !handle.is_finished() {
            break; // deliver what is here; the fetch goes on meanwhile
        }
        // Awaited in place: if this call is cancelled, the task stays for the next one.
        let joined = handle.await;
        st.ahead = None;
        match joined {
            Ok((reader, r)) => {
                st.reader = Some(reader);
                if !st.take(r)? {
                    break;
                }
            }
            Err(_) => st.done = true,
        }
    }
    if closed.load(Ordering::Relaxed) {
        return Ok(Vec::new());
    }
    let out = std::mem::take(&mut st.ready);
    let ended = out.last().is_some_and(|c| c.closed);
    if !st.done && !ended && !out.is_empty() {
        st.fetch_ahead(check_json);
    }
    Ok(out)
}

#[pymethods]
impl PyReader {
    /// Resolves to a list of up to `max_chunks` chunks (at least one unless the reader has
    /// ended: an empty list means it ended). After an error, calling again resumes from the
    /// last delivered offset.
    #[pyo3(signature = (max_chunks=16))]
    fn next_batch(&self, max_chunks: usize) -> PyResult<Pending> {
        check_pid(self.pid, "reader")?;
        let state = self.state.clone();
        let closed = self.closed.clone();
        let check_json = self.check_json.load(Ordering::Relaxed);
        let max = max_chunks.max(1);
        Ok(pending_with(async move {
            let chunks = next_batch(&state, &closed, check_json, max).await?;
            let convert: Convert = Box::new(move |py| {
                let list = PyList::empty(py);
                for c in chunks {
                    list.append(Bound::new(py, PyChunk::from_core(c))?)?;
                }
                Ok(list.into_any().unbind())
            });
            Ok(convert)
        }))
    }

    /// Whether the reader checks JSON chunks before delivering them (on by default). The
    /// JSON read paths turn it off: they parse every chunk with `Chunk.items()`, which
    /// reports bad JSON itself. Applies to fetches started after the call.
    fn set_check_json(&self, on: bool) {
        self.check_json.store(on, Ordering::Relaxed);
    }

    /// Stops the reader: open connections (and the read-ahead) are dropped and later reads
    /// return nothing.
    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        if let Ok(mut st) = self.state.try_lock() {
            if let Some(h) = st.ahead.take() {
                h.abort();
            }
            st.reader.take();
            st.done = true;
        }
    }
}
