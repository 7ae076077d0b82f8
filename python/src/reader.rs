//! `Reader` and `Chunk`: a core `Reader` read in batches of chunks, with read-ahead.
//!
//! `next_batch(max_chunks)` crosses the boundary once for up to `max_chunks` responses:
//! while the reader is catching up it keeps fetching, and it returns as soon as a chunk is
//! up to date (or closed), so live reads deliver each chunk as it arrives. When it returns,
//! the next response is already being fetched on the runtime (one response of read-ahead),
//! so the network overlaps with Python's work on the previous chunk. Chunks fetched but not
//! yet delivered are kept across a cancelled call, so cancellation never loses data.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use durastream::client::{Chunk, Reader, Result};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::error::Fail;
use crate::runtime::{check_pid, pending_with, Convert, Pending};

/// One response (or SSE event pair) of a read.
#[pyclass(name = "Chunk", module = "durastream._durastream", frozen)]
pub struct PyChunk {
    /// The bytes (for JSON streams a JSON array of messages; may be empty).
    #[pyo3(get)]
    data: Py<PyBytes>,
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
    fn from_core(py: Python<'_>, c: Chunk) -> PyChunk {
        PyChunk {
            data: PyBytes::new(py, &c.data).unbind(),
            // A JSON chunk without bytes (a long-poll 204) carries no message either.
            empty: c.data.is_empty() || c.is_empty(),
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
}

/// Reads one stream from a start offset in one live mode.
#[pyclass(name = "Reader", module = "durastream._durastream", frozen)]
pub struct PyReader {
    state: Arc<Mutex<State>>,
    closed: Arc<AtomicBool>,
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
            pid: std::process::id(),
        }
    }
}

async fn next_batch(
    state: &Mutex<State>,
    closed: &AtomicBool,
    max: usize,
) -> Result<Vec<Chunk>, Fail> {
    let mut st = state.lock().await;
    while !st.done && !closed.load(Ordering::Relaxed) && !st.batch_complete(max) {
        if let Some(handle) = st.ahead.as_mut() {
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
            continue;
        }
        let Some(reader) = st.reader.as_mut() else {
            st.done = true;
            break;
        };
        let r = reader.next_chunk().await;
        if !st.take(r)? {
            break;
        }
    }
    if closed.load(Ordering::Relaxed) {
        return Ok(Vec::new());
    }
    let out = std::mem::take(&mut st.ready);
    let ended = out.last().is_some_and(|c| c.closed);
    if !st.done && !ended && !out.is_empty() {
        if let Some(mut reader) = st.reader.take() {
            st.ahead = Some(tokio::spawn(async move {
                let r = reader.next_chunk().await;
                (reader, r)
            }));
        }
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
        let max = max_chunks.max(1);
        Ok(pending_with(async move {
            let chunks = next_batch(&state, &closed, max).await?;
            let convert: Convert = Box::new(move |py| {
                let list = PyList::empty(py);
                for c in chunks {
                    list.append(Bound::new(py, PyChunk::from_core(py, c))?)?;
                }
                Ok(list.into_any().unbind())
            });
            Ok(convert)
        }))
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
