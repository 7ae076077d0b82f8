//! Materialized state: type → key → value, built by applying events in stream order.
//!
//! The rules (spec section 6, and how this crate decided what the spec leaves open; see
//! `tests/state/README.md`):
//! - `insert`, `update` and `upsert` store `value` at `type`/`key`, replacing what was
//!   there (an update of a missing key creates it, an insert of a present key replaces
//!   it). `old_value` is never used.
//! - `delete` removes `type`/`key`; deleting a missing key changes nothing.
//! - `reset` clears everything (and ends an open snapshot).
//! - `snapshot-start` / `snapshot-end` change no entity: they mark the state as inside a
//!   snapshot, where it is not "consistent" (see [`MaterializedState::in_snapshot`]).
//! - A type with no entity left is not listed.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use foldhash::fast::RandomState;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::error::{Error, ErrorKind, Result};
use super::event::{Control, Json, Operation, StateEvent};
use super::parse::parse_batch;
use super::quick::{quick_batch, Quick};
use super::scan::scan_batch;

/// A map keyed by names from the stream, with a fast hasher seeded per map.
type Map<V> = HashMap<String, V, RandomState>;

/// What applying one event did. Returned by [`MaterializedState::apply`]; this is the
/// change notification stream a follower hands out.
#[derive(Debug, Clone)]
pub enum Change {
    /// An insert, update or upsert stored `value`; `previous` is what it replaced.
    Set {
        /// The entity type.
        entity_type: String,
        /// The entity key.
        key: String,
        /// The operation the event carried.
        operation: Operation,
        /// The new value.
        value: Json,
        /// The value it replaced, if the key was present.
        previous: Option<Json>,
    },
    /// A delete. `previous` is the removed value, or `None` when the key was absent and
    /// nothing changed.
    Deleted {
        /// The entity type.
        entity_type: String,
        /// The entity key.
        key: String,
        /// The removed value.
        previous: Option<Json>,
    },
    /// A `reset`: the state was cleared.
    Reset {
        /// `headers.offset` of the event.
        offset: Option<String>,
    },
    /// A `snapshot-start`.
    SnapshotStart {
        /// `headers.offset` of the event.
        offset: Option<String>,
    },
    /// A `snapshot-end`.
    SnapshotEnd {
        /// `headers.offset` of the event.
        offset: Option<String>,
    },
}

impl Change {
    /// True when the state's entities changed (a set, a delete of a present key, or a
    /// reset).
    pub fn is_effective(&self) -> bool {
        match self {
            Change::Set { .. } | Change::Reset { .. } => true,
            Change::Deleted { previous, .. } => previous.is_some(),
            Change::SnapshotStart { .. } | Change::SnapshotEnd { .. } => false,
        }
    }
}

/// The JSON form of a change, the same in every binding:
/// `{"kind":"set","type":..,"key":..,"operation":..,"value":..,"previous":..}`,
/// `{"kind":"delete","type":..,"key":..,"previous":..}`, and
/// `{"kind":"reset"|"snapshot-start"|"snapshot-end","offset":..}`; absent values are left
/// out.
impl serde::Serialize for Change {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        match self {
            Change::Set { entity_type, key, operation, value, previous } => {
                m.serialize_entry("kind", "set")?;
                m.serialize_entry("type", entity_type)?;
                m.serialize_entry("key", key)?;
                m.serialize_entry("operation", operation.as_str())?;
                m.serialize_entry("value", &**value)?;
                if let Some(p) = previous {
                    m.serialize_entry("previous", &**p)?;
                }
            }
            Change::Deleted { entity_type, key, previous } => {
                m.serialize_entry("kind", "delete")?;
                m.serialize_entry("type", entity_type)?;
                m.serialize_entry("key", key)?;
                if let Some(p) = previous {
                    m.serialize_entry("previous", &**p)?;
                }
            }
            Change::Reset { offset }
            | Change::SnapshotStart { offset }
            | Change::SnapshotEnd { offset } => {
                m.serialize_entry("kind", self.kind())?;
                if let Some(o) = offset {
                    m.serialize_entry("offset", o)?;
                }
            }
        }
        m.end()
    }
}

impl Change {
    /// `set`, `delete`, `reset`, `snapshot-start` or `snapshot-end`.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Set { .. } => "set",
            Change::Deleted { .. } => "delete",
            Change::Reset { .. } => "reset",
            Change::SnapshotStart { .. } => "snapshot-start",
            Change::SnapshotEnd { .. } => "snapshot-end",
        }
    }

    /// The change as JSON text (see the `Serialize` impl for the form).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Several changes as one JSON array.
    pub fn list_to_json(changes: &[Change]) -> String {
        serde_json::to_string(changes).unwrap_or_default()
    }
}

/// What to do with a malformed event in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MalformedPolicy {
    /// Skip it, apply the others, and report it. The default.
    #[default]
    Skip,
    /// Apply nothing of the batch and fail with [`ErrorKind::Malformed`].
    Stop,
}

/// The result of applying one batch of events.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    /// The number of events applied.
    pub applied: usize,
    /// One entry per applied event, in order (empty from
    /// [`MaterializedState::apply_batch_json_quiet`]).
    pub changes: Vec<Change>,
    /// The malformed events that were skipped (each error has its index in the batch).
    pub malformed: Vec<Error>,
}

/// The state built from a State Protocol stream.
///
/// ```
/// use durastream::state::{self, MaterializedState};
/// use serde_json::json;
///
/// let mut s = MaterializedState::new();
/// s.apply(state::insert("user", "1", &json!({"name": "Ann"}))?.into());
/// s.apply(state::insert("user", "2", &json!({"name": "Bob"}))?.into());
/// s.apply(state::update("user", "1", &json!({"name": "Ann Smith"}))?.into());
/// s.apply(state::delete("user", "2")?.into());
/// let ann: Option<serde_json::Value> = s.get("user", "1")?;
/// assert_eq!(ann, Some(json!({"name": "Ann Smith"})));
/// assert_eq!(s.len("user"), 1);
/// # Ok::<(), durastream::state::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MaterializedState {
    types: Map<Map<Json>>,
    in_snapshot: bool,
}

impl MaterializedState {
    /// An empty state.
    pub fn new() -> MaterializedState {
        MaterializedState::default()
    }

    /// Applies one event and says what it did.
    pub fn apply(&mut self, event: StateEvent) -> Change {
        match event {
            StateEvent::Change(c) => {
                if c.headers.operation == Operation::Delete {
                    let previous = self.remove(&c.entity_type, &c.key);
                    return Change::Deleted { entity_type: c.entity_type, key: c.key, previous };
                }
                // Builders and the parser refuse a missing value; treat a hand-made one as
                // null.
                let value = c.value.unwrap_or_else(null_json);
                let previous =
                    self.set(Cow::Borrowed(&c.entity_type), Cow::Borrowed(&c.key), value.clone());
                Change::Set {
                    entity_type: c.entity_type,
                    key: c.key,
                    operation: c.headers.operation,
                    value,
                    previous,
                }
            }
            StateEvent::Control(c) => {
                self.control(c.control);
                control_change(c.control, c.offset)
            }
        }
    }

    /// Parses one event from JSON text and applies it.
    pub fn apply_json(&mut self, text: &str) -> Result<Change> {
        Ok(self.apply(StateEvent::from_json(text)?))
    }

    /// Applies a batch given as a JSON array of events (a read chunk of a JSON stream).
    /// Malformed events are handled as `policy` says; a body that is not a JSON array is
    /// always an error and applies nothing.
    pub fn apply_batch_json(
        &mut self,
        data: &[u8],
        policy: MalformedPolicy,
    ) -> Result<BatchOutcome> {
        self.apply_batch(data, policy, true)
    }

    /// Applies a batch as [`MaterializedState::apply_batch_json`] does but records no
    /// [`Change`] (`changes` stays empty; `applied` counts): the fast way when nobody
    /// listens for changes.
    pub fn apply_batch_json_quiet(
        &mut self,
        data: &[u8],
        policy: MalformedPolicy,
    ) -> Result<BatchOutcome> {
        self.apply_batch(data, policy, false)
    }

    fn apply_batch(
        &mut self,
        data: &[u8],
        policy: MalformedPolicy,
        changes: bool,
    ) -> Result<BatchOutcome> {
        if let Some(out) = self.apply_well_formed(data, changes) {
            return Ok(out);
        }
        let mut out = self.apply_parsed(parse_batch(data)?, policy)?;
        if !changes {
            out.changes = Vec::new();
        }
        Ok(out)
    }

    /// Applies a batch through the fast paths (`scan.rs`, then `quick.rs`) when every event
    /// in it is well formed; `None`, with nothing applied, when the full path must handle it.
    pub(crate) fn apply_well_formed(&mut self, data: &[u8], changes: bool) -> Option<BatchOutcome> {
        let events = scan_batch(data).or_else(|| quick_batch(data))?;
        let mut out = BatchOutcome {
            applied: events.len(),
            changes: Vec::with_capacity(if changes { events.len() } else { 0 }),
            malformed: Vec::new(),
        };
        for event in events {
            if let Some(c) = self.apply_quick(event, changes) {
                out.changes.push(c);
            }
        }
        Some(out)
    }

    /// Applies one well-formed event; the change only when `changes` asks for it.
    fn apply_quick(&mut self, event: Quick<'_>, changes: bool) -> Option<Change> {
        match event {
            Quick::Set { entity_type, key, operation, value } => {
                let value = Json::from(value.to_owned());
                if !changes {
                    self.set(entity_type, key, value);
                    return None;
                }
                let (t, k) = (entity_type.to_string(), key.to_string());
                let previous = self.set(entity_type, key, value.clone());
                Some(Change::Set { entity_type: t, key: k, operation, value, previous })
            }
            Quick::Delete { entity_type, key } => {
                let previous = self.remove(&entity_type, &key);
                changes.then(|| Change::Deleted {
                    entity_type: entity_type.into_owned(),
                    key: key.into_owned(),
                    previous,
                })
            }
            Quick::Control { control, offset } => {
                self.control(control);
                changes.then(|| control_change(control, offset.map(Cow::into_owned)))
            }
        }
    }

    /// Stores `value` at `entity_type`/`key`; returns what it replaced. The names are
    /// copied only when new.
    fn set(&mut self, entity_type: Cow<'_, str>, key: Cow<'_, str>, value: Json) -> Option<Json> {
        let keys = match self.types.get_mut(&*entity_type) {
            Some(keys) => keys,
            None => self.types.entry(entity_type.into_owned()).or_default(),
        };
        match keys.get_mut(&*key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                keys.insert(key.into_owned(), value);
                None
            }
        }
    }

    /// Removes `entity_type`/`key` (and the type once empty); returns the removed value.
    fn remove(&mut self, entity_type: &str, key: &str) -> Option<Json> {
        let keys = self.types.get_mut(entity_type)?;
        let previous = keys.remove(key);
        if keys.is_empty() {
            self.types.remove(entity_type);
        }
        previous
    }

    fn control(&mut self, control: Control) {
        match control {
            Control::Reset => self.clear(),
            Control::SnapshotStart => self.in_snapshot = true,
            Control::SnapshotEnd => self.in_snapshot = false,
        }
    }

    /// Applies already parsed events (see [`MaterializedState::apply_batch_json`]).
    pub fn apply_parsed(
        &mut self,
        events: Vec<Result<StateEvent>>,
        policy: MalformedPolicy,
    ) -> Result<BatchOutcome> {
        if policy == MalformedPolicy::Stop {
            if let Some(Err(e)) = events.iter().find(|e| e.is_err()) {
                return Err(e.clone());
            }
        }
        let mut out = BatchOutcome {
            applied: 0,
            changes: Vec::with_capacity(events.len()),
            malformed: Vec::new(),
        };
        for event in events {
            match event {
                Ok(e) => {
                    out.applied += 1;
                    out.changes.push(self.apply(e));
                }
                Err(e) => out.malformed.push(e),
            }
        }
        Ok(out)
    }

    /// The raw JSON value at `entity_type`/`key`.
    pub fn get_raw(&self, entity_type: &str, key: &str) -> Option<&RawValue> {
        self.types.get(entity_type)?.get(key).map(|v| &**v)
    }

    /// The shared JSON value at `entity_type`/`key` (cheap to clone).
    pub fn get_json(&self, entity_type: &str, key: &str) -> Option<Json> {
        self.types.get(entity_type)?.get(key).cloned()
    }

    /// The value at `entity_type`/`key`, decoded into `T` (any serde type, or
    /// `serde_json::Value`). A value that does not fit `T` is an [`ErrorKind::Decode`]
    /// error.
    pub fn get<T: DeserializeOwned>(&self, entity_type: &str, key: &str) -> Result<Option<T>> {
        self.get_raw(entity_type, key).map(|raw| decode(entity_type, key, raw)).transpose()
    }

    /// Every entity of a type, decoded into `T`, sorted by key.
    pub fn get_all<T: DeserializeOwned>(&self, entity_type: &str) -> Result<BTreeMap<String, T>> {
        let mut out = BTreeMap::new();
        for (k, v) in self.types.get(entity_type).into_iter().flatten() {
            out.insert(k.clone(), decode(entity_type, k, v)?);
        }
        Ok(out)
    }

    /// True when `entity_type`/`key` is present.
    pub fn contains(&self, entity_type: &str, key: &str) -> bool {
        self.types.get(entity_type).is_some_and(|m| m.contains_key(key))
    }

    /// The keys and raw values of a type, in no particular order.
    pub fn entries<'a>(
        &'a self,
        entity_type: &str,
    ) -> impl Iterator<Item = (&'a str, &'a RawValue)> + 'a {
        self.types
            .get(entity_type)
            .into_iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), &**v)))
    }

    /// The types holding at least one entity, sorted.
    pub fn types(&self) -> Vec<&str> {
        let mut t: Vec<&str> = self.types.keys().map(String::as_str).collect();
        t.sort_unstable();
        t
    }

    /// The number of entities of a type.
    pub fn len(&self, entity_type: &str) -> usize {
        self.types.get(entity_type).map_or(0, Map::len)
    }

    /// The number of entities of every type.
    pub fn total_len(&self) -> usize {
        self.types.values().map(Map::len).sum()
    }

    /// True when no entity is stored.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// True between a `snapshot-start` and its `snapshot-end`: the state holds part of a
    /// snapshot and is not a consistent view.
    pub fn in_snapshot(&self) -> bool {
        self.in_snapshot
    }

    /// Removes every entity (as a `reset` does).
    pub fn clear(&mut self) {
        self.types.clear();
        self.in_snapshot = false;
    }

    /// The whole state as a sorted JSON object `{type: {key: value}}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.sorted()).unwrap_or_default()
    }

    /// The state as sorted maps of raw values.
    pub fn sorted(&self) -> BTreeMap<&str, BTreeMap<&str, &RawValue>> {
        self.types
            .iter()
            .map(|(t, keys)| (t.as_str(), keys.iter().map(|(k, v)| (k.as_str(), &**v)).collect()))
            .collect()
    }

    /// Builds a state from `{type: {key: value}}` JSON (the form of
    /// [`MaterializedState::to_json`]).
    pub fn from_json(text: &str) -> Result<MaterializedState> {
        let map: BTreeMap<String, BTreeMap<String, Box<RawValue>>> = serde_json::from_str(text)
            .map_err(|e| {
                Error::new(
                    ErrorKind::Checkpoint,
                    format!("state must be {{type: {{key: value}}}}: {e}"),
                )
                .with_source(e)
            })?;
        Ok(Self::from_map(map, false))
    }

    pub(crate) fn from_map(
        map: BTreeMap<String, BTreeMap<String, Box<RawValue>>>,
        in_snapshot: bool,
    ) -> MaterializedState {
        let types = map
            .into_iter()
            .filter(|(_, keys)| !keys.is_empty())
            .map(|(t, keys)| (t, keys.into_iter().map(|(k, v)| (k, Json::from(v))).collect()))
            .collect();
        MaterializedState { types, in_snapshot }
    }
}

fn decode<T: DeserializeOwned>(entity_type: &str, key: &str, raw: &RawValue) -> Result<T> {
    serde_json::from_str(raw.get()).map_err(|e| {
        Error::new(
            ErrorKind::Decode,
            format!(
                "value of {entity_type}/{key} does not decode into {}: {e}",
                std::any::type_name::<T>()
            ),
        )
        .with_source(e)
    })
}

/// The change a control event makes.
fn control_change(control: Control, offset: Option<String>) -> Change {
    match control {
        Control::Reset => Change::Reset { offset },
        Control::SnapshotStart => Change::SnapshotStart { offset },
        Control::SnapshotEnd => Change::SnapshotEnd { offset },
    }
}

fn null_json() -> Json {
    Json::from(RawValue::NULL.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_of_last_key_drops_the_type() {
        let mut s = MaterializedState::new();
        s.apply_json(r#"{"type":"t","key":"k","value":1,"headers":{"operation":"insert"}}"#)
            .expect("valid");
        assert_eq!(s.types(), vec!["t"]);
        let c = s.apply_json(r#"{"type":"t","key":"k","headers":{"operation":"delete"}}"#);
        assert!(c.expect("valid").is_effective());
        assert!(s.types().is_empty());
        let again = s.apply_json(r#"{"type":"t","key":"k","headers":{"operation":"delete"}}"#);
        assert!(!again.expect("valid").is_effective());
    }

    #[test]
    fn changes_have_one_json_form() {
        let mut s = MaterializedState::new();
        let set = s
            .apply_json(
                r#"{"type":"t","key":"k","value":{"a":1},"headers":{"operation":"upsert"}}"#,
            )
            .expect("valid");
        assert_eq!(
            set.to_json(),
            r#"{"kind":"set","type":"t","key":"k","operation":"upsert","value":{"a":1}}"#
        );
        let del = s.apply_json(r#"{"type":"t","key":"k","headers":{"operation":"delete"}}"#);
        assert_eq!(
            del.expect("valid").to_json(),
            r#"{"kind":"delete","type":"t","key":"k","previous":{"a":1}}"#
        );
        let reset = s.apply_json(r#"{"headers":{"control":"reset","offset":"5"}}"#);
        assert_eq!(reset.expect("valid").to_json(), r#"{"kind":"reset","offset":"5"}"#);
    }
}
