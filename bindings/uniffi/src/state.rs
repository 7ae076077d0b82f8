//! The State Protocol: core's `MaterializedState`, event builders and the live follower.
//!
//! Events cross the boundary as JSON text, a whole batch at a time; values come back as
//! JSON text, decoded on the foreign side (kotlinx.serialization, `Codable`). The Kotlin
//! package wraps the follower in a `StateFlow` of the state and a `Flow` of changes; the
//! Swift package in an `AsyncSequence`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use durastream::state::{self as core, Change, FollowerOptions, MalformedPolicy, SharedFollower};
use serde_json::value::RawValue;
use tokio::sync::watch;

use crate::error::{DurastreamError, Result};
use crate::reader::LiveMode;
use crate::runtime;
use crate::stream::DurableStream;

/// What applying one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChangeKind {
    /// An insert, update or upsert stored `value`.
    Set,
    /// A delete (`previous` is absent when the key was not there).
    Delete,
    /// A `reset`: the state was cleared.
    Reset,
    /// A `snapshot-start`.
    SnapshotStart,
    /// A `snapshot-end`.
    SnapshotEnd,
}

/// One change, values as JSON text.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StateChange {
    /// What happened.
    pub kind: ChangeKind,
    /// The entity type (set, delete).
    pub entity_type: Option<String>,
    /// The entity key (set, delete).
    pub key: Option<String>,
    /// `insert`, `update` or `upsert` (set).
    pub operation: Option<String>,
    /// The new value as JSON text (set).
    pub value: Option<String>,
    /// The value replaced or removed, as JSON text.
    pub previous: Option<String>,
    /// `headers.offset` of a control event.
    pub offset: Option<String>,
}

fn text(v: &core::Json) -> String {
    v.get().to_string()
}

fn change(c: &Change) -> StateChange {
    let mut out = StateChange {
        kind: ChangeKind::Reset,
        entity_type: None,
        key: None,
        operation: None,
        value: None,
        previous: None,
        offset: None,
    };
    match c {
        Change::Set { entity_type, key, operation, value, previous } => {
            out.kind = ChangeKind::Set;
            out.entity_type = Some(entity_type.clone());
            out.key = Some(key.clone());
            out.operation = Some(operation.as_str().to_string());
            out.value = Some(text(value));
            out.previous = previous.as_ref().map(text);
        }
        Change::Deleted { entity_type, key, previous } => {
            out.kind = ChangeKind::Delete;
            out.entity_type = Some(entity_type.clone());
            out.key = Some(key.clone());
            out.previous = previous.as_ref().map(text);
        }
        Change::Reset { offset } => out.offset = offset.clone(),
        Change::SnapshotStart { offset } => {
            out.kind = ChangeKind::SnapshotStart;
            out.offset = offset.clone();
        }
        Change::SnapshotEnd { offset } => {
            out.kind = ChangeKind::SnapshotEnd;
            out.offset = offset.clone();
        }
    }
    out
}

/// A malformed event that was skipped.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MalformedEvent {
    /// `MALFORMED_EVENT`.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// The field at fault (`type`, `key`, `headers.operation`, ...; empty for the event).
    pub field: Option<String>,
    /// The event's position in its batch.
    pub index: Option<u64>,
    /// The stream offset of the batch holding it (followers).
    pub offset: Option<String>,
}

fn malformed(e: &core::Error) -> MalformedEvent {
    MalformedEvent {
        code: e.code().to_string(),
        message: e.message().to_string(),
        field: e.field().map(str::to_string),
        index: e.index().map(|i| i as u64),
        offset: e.offset().map(str::to_string),
    }
}

/// What one `applyJson` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApplyOutcome {
    /// One entry per applied event, in order.
    pub changes: Vec<StateChange>,
    /// Malformed events skipped.
    pub malformed: Vec<MalformedEvent>,
}

/// What one `applyJsonQuiet` did: how many events were applied, no changes listed.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApplyCount {
    /// The number of events applied.
    pub applied: u64,
    /// Malformed events skipped.
    pub malformed: Vec<MalformedEvent>,
}

/// One entity: its key and value as JSON text.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Entity {
    /// The key.
    pub key: String,
    /// The value as JSON text.
    pub value: String,
}

/// Core's materialized state (type → key → JSON value). Thread-safe; a state taken from a
/// follower is copied on its first change.
#[derive(uniffi::Object)]
pub struct MaterializedState {
    inner: Mutex<Arc<core::MaterializedState>>,
}

impl MaterializedState {
    fn read(&self) -> Arc<core::MaterializedState> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn shared(state: Arc<core::MaterializedState>) -> Arc<MaterializedState> {
        Arc::new(MaterializedState { inner: Mutex::new(state) })
    }
}

#[uniffi::export]
impl MaterializedState {
    /// An empty state.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        MaterializedState::shared(Arc::new(core::MaterializedState::new()))
    }

    /// The state saved by `toJson` (`{type: {key: value}}`).
    #[uniffi::constructor]
    pub fn from_json(json: String) -> Result<Arc<Self>> {
        Ok(MaterializedState::shared(Arc::new(core::MaterializedState::from_json(&json)?)))
    }

    /// Applies a JSON array of events. A malformed event fails with a `State` error and
    /// applies nothing of the batch, unless `skipMalformed`: then it is skipped and listed.
    pub fn apply_json(&self, events: String, skip_malformed: bool) -> Result<ApplyOutcome> {
        let policy = if skip_malformed { MalformedPolicy::Skip } else { MalformedPolicy::Stop };
        let mut guard = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let out = Arc::make_mut(&mut guard).apply_batch_json(events.as_bytes(), policy)?;
        Ok(ApplyOutcome {
            changes: out.changes.iter().map(change).collect(),
            malformed: out.malformed.iter().map(malformed).collect(),
        })
    }

    /// Applies like `applyJson` but lists no changes, only how many events were applied:
    /// the fast way to materialize when nobody listens for changes.
    pub fn apply_json_quiet(&self, events: String, skip_malformed: bool) -> Result<ApplyCount> {
        let policy = if skip_malformed { MalformedPolicy::Skip } else { MalformedPolicy::Stop };
        let mut guard = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let out = Arc::make_mut(&mut guard).apply_batch_json_quiet(events.as_bytes(), policy)?;
        Ok(ApplyCount {
            applied: out.applied as u64,
            malformed: out.malformed.iter().map(malformed).collect(),
        })
    }

    /// The value at `entityType`/`key` as JSON text.
    pub fn get(&self, entity_type: String, key: String) -> Option<String> {
        self.read().get_raw(&entity_type, &key).map(|v| v.get().to_string())
    }

    /// The entities of a type, sorted by key.
    pub fn entities(&self, entity_type: String) -> Vec<Entity> {
        let s = self.read();
        let mut out: Vec<Entity> = s
            .entries(&entity_type)
            .map(|(k, v)| Entity { key: k.to_string(), value: v.get().to_string() })
            .collect();
        out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// True when `entityType`/`key` is present.
    pub fn contains(&self, entity_type: String, key: String) -> bool {
        self.read().contains(&entity_type, &key)
    }

    /// The number of entities of a type.
    pub fn size(&self, entity_type: String) -> u64 {
        self.read().len(&entity_type) as u64
    }

    /// The number of entities of every type.
    pub fn total(&self) -> u64 {
        self.read().total_len() as u64
    }

    /// The types holding at least one entity, sorted.
    pub fn types(&self) -> Vec<String> {
        self.read().types().into_iter().map(str::to_string).collect()
    }

    /// True inside an open snapshot.
    pub fn in_snapshot(&self) -> bool {
        self.read().in_snapshot()
    }

    /// Removes every entity.
    pub fn clear(&self) {
        let mut guard = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::make_mut(&mut guard).clear();
    }

    /// The whole state as sorted JSON `{type: {key: value}}`.
    pub fn to_json(&self) -> String {
        self.read().to_json()
    }
}

/// Checks one event (JSON text) against the State Protocol; a `State` error names the
/// field at fault.
#[uniffi::export]
pub fn validate_state_event(event: String) -> Result<()> {
    Ok(core::StateEvent::from_json(&event)?.validate()?)
}

/// Builds a change event with core's builders: `operation` is `insert`, `update`,
/// `upsert` or `delete`; `value` and `oldValue` are JSON text; `headers` are strings
/// (`txid` and `timestamp` are checked). Returns the event's JSON text.
#[uniffi::export]
pub fn build_change_event(
    operation: String,
    entity_type: String,
    key: String,
    value: Option<String>,
    old_value: Option<String>,
    headers: HashMap<String, String>,
) -> Result<String> {
    let op = core::Operation::parse(&operation).ok_or_else(|| {
        DurastreamError::invalid_argument("operation", format!("unknown operation {operation:?}"))
    })?;
    let raw = |t: Option<String>, name: &'static str| -> Result<Option<core::Json>> {
        t.map(|t| {
            RawValue::from_string(t).map(Arc::from).map_err(|e| {
                DurastreamError::invalid_argument(name, format!("{name} is not JSON: {e}"))
            })
        })
        .transpose()
    };
    let value = if op.needs_value() { raw(value, "value")? } else { None };
    let mut event = core::ChangeEvent::new(op, &entity_type, &key, value)?;
    event.old_value = raw(old_value, "oldValue")?;
    let mut names: Vec<_> = headers.into_iter().collect();
    names.sort();
    for (name, v) in names {
        event = event.header(&name, &v)?;
    }
    event.validate()?;
    Ok(event.to_json())
}

/// Settings of a [`StateFollower`].
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct StateFollowerOptions {
    /// A checkpoint saved by `checkpoint()`: resume without replaying the stream.
    #[uniffi(default)]
    pub checkpoint: Option<String>,
    /// How to follow after catching up; absent means `Auto`.
    #[uniffi(default)]
    pub live: Option<LiveMode>,
    /// Stop on a malformed event instead of skipping and reporting it.
    #[uniffi(default)]
    pub stop_on_malformed: bool,
}

/// One batch applied by a follower.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StateUpdate {
    /// What each applied event did, in stream order.
    pub changes: Vec<StateChange>,
    /// Malformed events skipped.
    pub malformed: Vec<MalformedEvent>,
    /// The offset after the batch.
    pub offset: String,
    /// The follower had every event that existed when the batch was sent.
    pub up_to_date: bool,
    /// Up to date and outside a snapshot: the state is a consistent view.
    pub consistent: bool,
    /// The stream is closed; this was its last batch.
    pub closed: bool,
}

/// Follows a State Protocol stream: catches up, then follows live, applying events in
/// order. Thread-safe; `next()` calls are served one at a time.
#[derive(uniffi::Object)]
pub struct StateFollower {
    inner: Arc<SharedFollower>,
    cancel: watch::Sender<bool>,
}

#[uniffi::export]
impl StateFollower {
    /// A follower of `stream` (nothing is sent until `next()`). A bad checkpoint fails
    /// with a `State` error (`BAD_CHECKPOINT`).
    #[uniffi::constructor]
    pub fn new(stream: Arc<DurableStream>, options: StateFollowerOptions) -> Result<Arc<Self>> {
        let read = crate::reader::ReadOptions {
            live: Some(options.live.unwrap_or(LiveMode::Auto)),
            ..Default::default()
        };
        let live = read.into_core().live;
        let policy =
            if options.stop_on_malformed { MalformedPolicy::Stop } else { MalformedPolicy::Skip };
        let opts = FollowerOptions::default().live(live).malformed(policy);
        let inner = SharedFollower::new(stream.handle(), options.checkpoint.as_deref(), opts)?;
        Ok(Arc::new(StateFollower { inner: Arc::new(inner), cancel: watch::channel(false).0 }))
    }

    /// The next applied batch, or `null`/`nil` once the stream ended or `cancel()` was
    /// called. After a stream error, calling again retries from the same offset.
    pub async fn next(&self) -> Result<Option<StateUpdate>> {
        let inner = self.inner.clone();
        let mut cancel = self.cancel.subscribe();
        runtime::run(async move {
            if *cancel.borrow() {
                return Ok(None);
            }
            let update = tokio::select! {
                biased;
                _ = cancel.wait_for(|c| *c) => return Ok(None),
                u = inner.next() => u?,
            };
            Ok(update.map(|u| StateUpdate {
                changes: u.changes.iter().map(change).collect(),
                malformed: u.malformed.iter().map(malformed).collect(),
                offset: u.offset,
                up_to_date: u.up_to_date,
                consistent: u.consistent,
                closed: u.closed,
            }))
        })
        .await
    }

    /// The state after the last up-to-date batch (a copy shared with the follower; later
    /// batches do not change it).
    pub fn state(&self) -> Arc<MaterializedState> {
        MaterializedState::shared(self.inner.view().state)
    }

    /// The offset of `state()`.
    pub fn offset(&self) -> String {
        self.inner.view().offset
    }

    /// True when `state()` is consistent: up to date and outside a snapshot.
    pub fn is_consistent(&self) -> bool {
        self.inner.view().consistent
    }

    /// `state()` and its offset as a checkpoint (JSON) for `StateFollowerOptions.checkpoint`.
    pub fn checkpoint(&self) -> String {
        self.inner.view().checkpoint().to_json()
    }

    /// Stops following: a waiting `next()` returns `null`/`nil`, and so does every later
    /// one.
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }
}
