//! The State Protocol: core's `MaterializedState`, event builders and the live follower,
//! for `durastream/state.py`.
//!
//! Events cross the boundary as JSON text, a whole batch at a time (`apply_json`), so
//! materializing pays one call per read chunk, not per event; values come back as JSON
//! text and are decoded in Python only when read. Changes are serialized only when asked
//! for (the Python side has listeners).

use std::sync::Arc;

use durastream::state::{
    self, Change, ChangeEvent, FollowerOptions, MalformedPolicy, MaterializedState, Operation,
    SharedFollower, StateEvent,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::client::PyStream;
use crate::error::{state_py, state_to_pyerr, Fail};
use crate::runtime::{check_pid, pending_with, Convert, Pending};

fn policy(malformed: &str) -> PyResult<MalformedPolicy> {
    match malformed {
        "stop" => Ok(MalformedPolicy::Stop),
        "skip" => Ok(MalformedPolicy::Skip),
        other => Err(PyValueError::new_err(format!(
            "malformed must be \"skip\" or \"stop\", got {other:?}"
        ))),
    }
}

fn errors(py: Python<'_>, list: &[state::Error]) -> PyResult<Py<PyList>> {
    let out = PyList::empty(py);
    for e in list {
        out.append(state_to_pyerr(py, e).into_value(py))?;
    }
    Ok(out.unbind())
}

/// Core's materialized state (type → key → JSON value). A view shared with a follower is
/// copied on its first change.
#[pyclass(name = "State", module = "durastream._durastream")]
pub struct PyState {
    inner: Arc<MaterializedState>,
}

#[pymethods]
impl PyState {
    /// An empty state, or one saved by `to_json`.
    #[new]
    #[pyo3(signature = (json=None))]
    fn new(json: Option<&str>) -> PyResult<Self> {
        let inner = match json {
            Some(text) => state_py(MaterializedState::from_json(text))?,
            None => MaterializedState::new(),
        };
        Ok(PyState { inner: Arc::new(inner) })
    }

    /// Applies a JSON array of events (`str` or `bytes`). `malformed`: `"stop"` raises on
    /// the first malformed event and applies nothing; `"skip"` skips and returns them.
    /// Returns `(applied, malformed errors, changes as JSON text or None)`.
    #[pyo3(signature = (data, malformed="stop", changes=false))]
    fn apply_json(
        &mut self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        malformed: &str,
        changes: bool,
    ) -> PyResult<(usize, Py<PyList>, Option<String>)> {
        let policy = policy(malformed)?;
        let state = Arc::make_mut(&mut self.inner);
        let mut apply = |data: &[u8]| {
            if changes {
                state.apply_batch_json(data, policy)
            } else {
                state.apply_batch_json_quiet(data, policy)
            }
        };
        let out = if let Ok(b) = data.cast::<PyBytes>() {
            apply(b.as_bytes())
        } else if let Ok(s) = data.cast::<PyString>() {
            apply(s.to_cow()?.as_bytes())
        } else {
            return Err(PyValueError::new_err("events must be JSON text (str or bytes)"));
        };
        let out = out.map_err(|e| state_to_pyerr(py, &e))?;
        let listed = changes.then(|| Change::list_to_json(&out.changes));
        Ok((out.applied, errors(py, &out.malformed)?, listed))
    }

    /// The JSON text at `type`/`key`, or None.
    fn get(&self, entity_type: &str, key: &str) -> Option<String> {
        self.inner.get_raw(entity_type, key).map(|v| v.get().to_string())
    }

    /// `[(key, JSON text)]` of a type, sorted by key.
    fn entries(&self, entity_type: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .inner
            .entries(entity_type)
            .map(|(k, v)| (k.to_string(), v.get().to_string()))
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// True when `type`/`key` is present.
    fn has(&self, entity_type: &str, key: &str) -> bool {
        self.inner.contains(entity_type, key)
    }

    /// The number of entities of a type.
    fn size(&self, entity_type: &str) -> usize {
        self.inner.len(entity_type)
    }

    /// The types holding at least one entity, sorted.
    fn types(&self) -> Vec<String> {
        self.inner.types().into_iter().map(str::to_string).collect()
    }

    /// The number of entities of every type.
    fn total(&self) -> usize {
        self.inner.total_len()
    }

    /// True inside an open snapshot.
    #[getter]
    fn in_snapshot(&self) -> bool {
        self.inner.in_snapshot()
    }

    /// Removes every entity.
    fn clear(&mut self) {
        Arc::make_mut(&mut self.inner).clear();
    }

    /// The state as sorted JSON `{type: {key: value}}`.
    fn to_json(&self) -> String {
        self.inner.to_json()
    }
}

/// Checks one event (JSON text); raises `StateError` naming the field.
#[pyfunction]
pub fn validate_state_event(event: &str) -> PyResult<()> {
    let e = state_py(StateEvent::from_json(event))?;
    state_py(e.validate())
}

/// Builds a change event with core's builders; values as JSON text, headers as strings.
/// Returns the event's JSON text.
#[pyfunction]
#[pyo3(signature = (operation, entity_type, key, value=None, old_value=None, headers=None))]
pub fn build_change_event(
    operation: &str,
    entity_type: &str,
    key: &str,
    value: Option<String>,
    old_value: Option<String>,
    headers: Option<Vec<(String, String)>>,
) -> PyResult<String> {
    let op = Operation::parse(operation)
        .ok_or_else(|| PyValueError::new_err(format!("unknown operation {operation:?}")))?;
    let raw = |text: Option<String>, name: &str| -> PyResult<Option<state::Json>> {
        text.map(|t| {
            RawValue::from_string(t)
                .map(Arc::from)
                .map_err(|e| PyValueError::new_err(format!("{name} is not JSON: {e}")))
        })
        .transpose()
    };
    let value = if op.needs_value() { raw(value, "value")? } else { None };
    let mut event = state_py(ChangeEvent::new(op, entity_type, key, value))?;
    event.old_value = raw(old_value, "old_value")?;
    for (name, v) in headers.unwrap_or_default() {
        event = state_py(event.header(&name, &v))?;
    }
    state_py(event.validate())?;
    Ok(event.to_json())
}

/// A live follower of a State Protocol stream (core's `SharedFollower`).
#[pyclass(name = "StateFollower", module = "durastream._durastream", frozen)]
pub struct PyStateFollower {
    inner: Arc<SharedFollower>,
    cancel: CancellationToken,
    pid: u32,
}

#[pymethods]
impl PyStateFollower {
    /// Follows `stream` from `checkpoint` (JSON) or the beginning, in `live` mode (`auto`,
    /// `sse`, `long-poll`, `off`); malformed events `"skip"` or `"stop"`.
    #[new]
    #[pyo3(signature = (stream, checkpoint=None, live="auto", malformed="skip"))]
    fn new(
        stream: &PyStream,
        checkpoint: Option<&str>,
        live: &str,
        malformed: &str,
    ) -> PyResult<Self> {
        let mode = live.parse().map_err(|e| Python::attach(|py| crate::error::to_pyerr(py, &e)))?;
        let opts = FollowerOptions::default().live(mode).malformed(policy(malformed)?);
        let inner = state_py(SharedFollower::new(stream.core()?, checkpoint, opts))?;
        Ok(PyStateFollower {
            inner: Arc::new(inner),
            cancel: CancellationToken::new(),
            pid: std::process::id(),
        })
    }

    /// Resolves to the next applied batch as `(changes JSON, malformed errors, offset,
    /// up_to_date, consistent, closed)`, or None once the stream ended or `close()` was
    /// called.
    fn next(&self) -> PyResult<Pending> {
        check_pid(self.pid, "state follower")?;
        let inner = self.inner.clone();
        let cancel = self.cancel.clone();
        Ok(pending_with(async move {
            let update = tokio::select! {
                biased;
                () = cancel.cancelled() => None,
                u = inner.next() => u.map_err(Fail::State)?,
            };
            let convert: Convert = Box::new(move |py| {
                let Some(u) = update else { return Ok(py.None()) };
                let changes = Change::list_to_json(&u.changes);
                let malformed = errors(py, &u.malformed)?;
                (changes, malformed, u.offset, u.up_to_date, u.consistent, u.closed)
                    .into_pyobject(py)
                    .map(|t| t.into_any().unbind())
            });
            Ok(convert)
        }))
    }

    /// The state after the last up-to-date batch (shared; copied if changed).
    fn view(&self) -> PyState {
        PyState { inner: self.inner.view().state }
    }

    /// `(offset, consistent)` of the view.
    fn position(&self) -> (String, bool) {
        let v = self.inner.view();
        (v.offset, v.consistent)
    }

    /// The view as a checkpoint (JSON) to resume from.
    fn checkpoint(&self) -> String {
        self.inner.view().checkpoint().to_json()
    }

    /// Stops following: a pending `next()` resolves None, the connection is dropped.
    fn close(&self) {
        self.cancel.cancel();
    }
}
