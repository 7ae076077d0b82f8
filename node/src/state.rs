//! The State Protocol: core's `MaterializedState`, event builders and the live follower,
//! for `lib/state.cjs` (the `@durable-streams/state` API).
//!
//! Events cross the boundary as JSON text, a whole batch at a time (`applyJson`), so
//! materializing never pays one native call per event; values come back as JSON text and
//! are parsed on the JavaScript side only when read. Changes are serialized only when the
//! caller asks for them (it has listeners).

use std::sync::Arc;

use durastream::state::{
    self, BatchOutcome, Change, FollowerOptions, MalformedPolicy, MaterializedState, Operation,
    SharedFollower, StateEvent,
};
use napi::bindgen_prelude::Buffer;
use napi::Either;
use napi_derive::napi;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::client::NativeStream;
use crate::error::{describe_state, invalid_argument, state_to_napi};
use crate::reader::live_mode;

/// JSON text or its UTF-8 bytes.
pub type JsonInput = Either<String, Buffer>;

fn bytes(data: &JsonInput) -> &[u8] {
    match data {
        Either::A(s) => s.as_bytes(),
        Either::B(b) => b.as_ref(),
    }
}

fn policy(malformed: Option<String>) -> napi::Result<MalformedPolicy> {
    match malformed.as_deref() {
        None | Some("stop") | Some("throw") => Ok(MalformedPolicy::Stop),
        Some("skip") => Ok(MalformedPolicy::Skip),
        Some(other) => Err(invalid_argument(
            "malformed",
            format!("malformed must be \"skip\" or \"stop\", got {other:?}"),
        )),
    }
}

/// What one `applyJson` did.
#[napi(object)]
pub struct NativeApplied {
    /// Events applied.
    pub applied: u32,
    /// Malformed events skipped: each an encoded `StateError` (JSON of its facts).
    pub malformed: Vec<String>,
    /// With `changes: true`: the changes as a JSON array (see core's `Change`).
    pub changes: Option<String>,
}

fn applied(out: &BatchOutcome, want: bool) -> NativeApplied {
    NativeApplied {
        applied: u32::try_from(out.applied).unwrap_or(u32::MAX),
        malformed: out.malformed.iter().map(|e| describe_state(e).to_string()).collect(),
        changes: want.then(|| Change::list_to_json(&out.changes)),
    }
}

/// Core's materialized state. Shared views (from a follower) are copied on first write.
#[napi]
pub struct NativeState {
    inner: Arc<MaterializedState>,
}

impl NativeState {
    fn read(&self) -> &MaterializedState {
        &self.inner
    }
}

#[napi]
impl NativeState {
    /// An empty state, or the state saved by `toJson`.
    #[napi(constructor)]
    pub fn new(json: Option<String>) -> napi::Result<Self> {
        let inner = match json {
            Some(text) => MaterializedState::from_json(&text).map_err(|e| state_to_napi(&e))?,
            None => MaterializedState::new(),
        };
        Ok(NativeState { inner: Arc::new(inner) })
    }

    /// Applies a JSON array of events. `malformed`: `"stop"` (default: a malformed event
    /// throws and nothing of the batch is applied) or `"skip"` (skipped and reported).
    #[napi]
    pub fn apply_json(
        &mut self,
        data: JsonInput,
        malformed: Option<String>,
        changes: Option<bool>,
    ) -> napi::Result<NativeApplied> {
        let policy = policy(malformed)?;
        let want = changes.unwrap_or(false);
        let s = Arc::make_mut(&mut self.inner);
        let out = if want {
            s.apply_batch_json(bytes(&data), policy)
        } else {
            s.apply_batch_json_quiet(bytes(&data), policy)
        };
        let out = out.map_err(|e| state_to_napi(&e))?;
        Ok(applied(&out, want))
    }

    /// The value at `type`/`key` as JSON text, or `null`.
    #[napi]
    pub fn get(&self, entity_type: String, key: String) -> Option<String> {
        self.read().get_raw(&entity_type, &key).map(|v| v.get().to_string())
    }

    /// The entities of a type as a JSON array of `[key, value]` pairs, sorted by key.
    #[napi]
    pub fn entries(&self, entity_type: String) -> String {
        let mut pairs: Vec<(&str, &RawValue)> = self.read().entries(&entity_type).collect();
        pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_string())
    }

    /// True when `type`/`key` is present.
    #[napi]
    pub fn has(&self, entity_type: String, key: String) -> bool {
        self.read().contains(&entity_type, &key)
    }

    /// The number of entities of a type.
    #[napi]
    pub fn size(&self, entity_type: String) -> u32 {
        u32::try_from(self.read().len(&entity_type)).unwrap_or(u32::MAX)
    }

    /// The types holding at least one entity, sorted.
    #[napi]
    pub fn types(&self) -> Vec<String> {
        self.read().types().into_iter().map(str::to_string).collect()
    }

    /// The number of entities of every type.
    #[napi(getter)]
    pub fn total(&self) -> u32 {
        u32::try_from(self.read().total_len()).unwrap_or(u32::MAX)
    }

    /// True inside an open snapshot.
    #[napi(getter)]
    pub fn in_snapshot(&self) -> bool {
        self.read().in_snapshot()
    }

    /// Removes every entity.
    #[napi]
    pub fn clear(&mut self) {
        Arc::make_mut(&mut self.inner).clear();
    }

    /// The whole state as sorted JSON `{type: {key: value}}`.
    #[napi]
    pub fn to_json(&self) -> String {
        self.read().to_json()
    }
}

/// Checks one event (JSON text) against the spec; throws a `StateError` naming the field.
#[napi]
pub fn validate_state_event(event: String) -> napi::Result<()> {
    let e = StateEvent::from_json(&event).map_err(|e| state_to_napi(&e))?;
    e.validate().map_err(|e| state_to_napi(&e))
}

/// Builds a change event with core's builders: `operation` (`insert`, `update`,
/// `upsert`, `delete`), `value` / `oldValue` as JSON text, `headers` as a JSON object
/// (strings; `txid` and `timestamp` are checked). Returns the event's JSON text.
#[napi]
pub fn build_change_event(
    operation: String,
    entity_type: String,
    key: String,
    value: Option<String>,
    old_value: Option<String>,
    headers: Option<String>,
) -> napi::Result<String> {
    let op = Operation::parse(&operation)
        .ok_or_else(|| invalid_argument("operation", format!("unknown operation {operation:?}")))?;
    state::change_json(
        op,
        &entity_type,
        &key,
        value.as_deref(),
        old_value.as_deref(),
        headers.as_deref(),
    )
    .map_err(|e| state_to_napi(&e))
}

/// One batch applied by a follower.
#[napi(object)]
pub struct NativeStateUpdate {
    /// The changes as a JSON array (see core's `Change`).
    pub changes: String,
    /// Malformed events skipped: each an encoded `StateError`.
    pub malformed: Vec<String>,
    /// The offset after the batch.
    pub offset: String,
    /// The follower had every event that existed when the batch was sent.
    pub up_to_date: bool,
    /// Up to date and outside a snapshot.
    pub consistent: bool,
    /// The stream is closed; this was its last batch.
    pub closed: bool,
}

/// A live follower of a State Protocol stream (core's `SharedFollower`).
#[napi]
pub struct NativeStateFollower {
    inner: Arc<SharedFollower>,
    cancel: CancellationToken,
}

#[napi]
impl NativeStateFollower {
    /// Follows `stream` from `checkpoint` (JSON saved by `checkpoint()`) or the beginning,
    /// in `live` mode (`auto`, `sse`, `long-poll`, `off`); malformed events `"skip"`
    /// (default) or `"stop"`.
    #[napi(constructor)]
    pub fn new(
        stream: &NativeStream,
        checkpoint: Option<String>,
        live: Option<String>,
        malformed: Option<String>,
    ) -> napi::Result<Self> {
        let mode = live_mode(live.as_deref().unwrap_or("auto"))?;
        let policy = match malformed.as_deref() {
            None => MalformedPolicy::Skip,
            other => policy(other.map(str::to_string))?,
        };
        let opts = FollowerOptions::default().live(mode).malformed(policy);
        let inner = SharedFollower::new(stream.inner.clone(), checkpoint.as_deref(), opts)
            .map_err(|e| state_to_napi(&e))?;
        Ok(NativeStateFollower { inner: Arc::new(inner), cancel: CancellationToken::new() })
    }

    /// The next applied batch, or `null` once the stream ended or `cancel()` was called.
    #[napi]
    pub async fn next(&self) -> napi::Result<Option<NativeStateUpdate>> {
        let inner = self.inner.clone();
        let cancel = self.cancel.clone();
        if cancel.is_cancelled() {
            return Ok(None);
        }
        let update = tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(None),
            u = inner.next() => u.map_err(|e| state_to_napi(&e))?,
        };
        Ok(update.map(|u| NativeStateUpdate {
            changes: Change::list_to_json(&u.changes),
            malformed: u.malformed.iter().map(|e| describe_state(e).to_string()).collect(),
            offset: u.offset,
            up_to_date: u.up_to_date,
            consistent: u.consistent,
            closed: u.closed,
        }))
    }

    /// The state after the last up-to-date batch (a read-only copy shared with the follower).
    #[napi]
    pub fn view(&self) -> NativeState {
        NativeState { inner: self.inner.view().state }
    }

    /// The offset of [`NativeStateFollower::view`].
    #[napi(getter)]
    pub fn offset(&self) -> String {
        self.inner.view().offset
    }

    /// True when the view is consistent (up to date, outside a snapshot).
    #[napi(getter)]
    pub fn consistent(&self) -> bool {
        self.inner.view().consistent
    }

    /// The view as a checkpoint (JSON) to resume from.
    #[napi]
    pub fn checkpoint(&self) -> String {
        self.inner.view().checkpoint().to_json()
    }

    /// Stops following: a pending `next()` resolves `null`, the connection is dropped.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}
