//! The State Protocol's messages: change events and control events.
//!
//! Values are kept as the exact JSON text they arrived in ([`Json`], a shared
//! [`RawValue`]): materializing never builds a JSON tree, nothing is rounded, and a
//! value is decoded only when asked for ([`MaterializedState::get`](super::MaterializedState::get)).
//! Fields this version does not know are kept in `extra` maps and written back unchanged,
//! so events round-trip.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

/// A JSON value kept as its exact text, cheap to clone.
pub type Json = Arc<RawValue>;

/// Fields outside the spec, by name, with their exact JSON text.
pub type Extra = BTreeMap<String, Box<RawValue>>;

/// What a change event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Creates the entity (replaces it if it exists).
    Insert,
    /// Replaces the entity (creates it if it does not exist).
    Update,
    /// Removes the entity (nothing happens if it does not exist).
    Delete,
    /// Inserts or replaces. Not in the spec; written by the npm package's helpers, so read
    /// and written here too (see `tests/state/README.md`).
    Upsert,
}

impl Operation {
    /// The wire form: `insert`, `update`, `delete` or `upsert`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Insert => "insert",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Upsert => "upsert",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Operation> {
        match s {
            "insert" => Some(Operation::Insert),
            "update" => Some(Operation::Update),
            "delete" => Some(Operation::Delete),
            "upsert" => Some(Operation::Upsert),
            _ => None,
        }
    }

    /// True for the operations that carry a `value` (all but delete).
    pub fn needs_value(self) -> bool {
        self != Operation::Delete
    }
}

/// What a control event signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    /// The change events up to the matching `snapshot-end` form a snapshot.
    SnapshotStart,
    /// Closes the snapshot opened by `snapshot-start`.
    SnapshotEnd,
    /// Clear the materialized state; the events after it build the new state.
    Reset,
}

impl Control {
    /// The wire form: `snapshot-start`, `snapshot-end` or `reset`.
    pub fn as_str(self) -> &'static str {
        match self {
            Control::SnapshotStart => "snapshot-start",
            Control::SnapshotEnd => "snapshot-end",
            Control::Reset => "reset",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Control> {
        match s {
            "snapshot-start" => Some(Control::SnapshotStart),
            "snapshot-end" => Some(Control::SnapshotEnd),
            "reset" => Some(Control::Reset),
            _ => None,
        }
    }
}

/// The `headers` of a change event.
#[derive(Debug, Clone)]
pub struct ChangeHeaders {
    /// `headers.operation`.
    pub operation: Operation,
    /// `headers.txid`: an opaque, non-empty transaction id.
    pub txid: Option<String>,
    /// `headers.timestamp`: an RFC 3339 timestamp.
    pub timestamp: Option<String>,
    /// Other headers (for example the npm package's `offset` and `from`), kept as sent.
    pub extra: Extra,
}

/// A change event: insert, update, upsert or delete of the entity `type`/`key`.
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    /// `type`: the entity type (non-empty).
    pub entity_type: String,
    /// `key`: the entity key within its type (non-empty).
    pub key: String,
    /// `value`: the new value. Present for insert, update and upsert; ignored on delete.
    pub value: Option<Json>,
    /// `old_value`: the previous value, when the writer sent it (never used to
    /// materialize).
    pub old_value: Option<Json>,
    /// `headers`.
    pub headers: ChangeHeaders,
    /// Other top-level fields, kept as sent.
    pub extra: Extra,
}

/// A control event: a snapshot boundary or a reset.
#[derive(Debug, Clone)]
pub struct ControlEvent {
    /// `headers.control`.
    pub control: Control,
    /// `headers.offset`: the stream offset the event refers to, when sent.
    pub offset: Option<String>,
    /// Other headers, kept as sent.
    pub headers_extra: Extra,
    /// Other top-level fields, kept as sent.
    pub extra: Extra,
}

/// One State Protocol message.
#[derive(Debug, Clone)]
pub enum StateEvent {
    /// A change of one entity.
    Change(ChangeEvent),
    /// A snapshot boundary or a reset.
    Control(ControlEvent),
}

impl StateEvent {
    /// Parses and validates one event from JSON text; the error names the field at fault.
    ///
    /// ```
    /// use durastream::state::StateEvent;
    /// let e = StateEvent::from_json(r#"{"type":"user","key":"1","value":{"name":"Ann"},
    ///     "headers":{"operation":"insert"}}"#).unwrap();
    /// assert!(matches!(e, StateEvent::Change(_)));
    /// let bad = StateEvent::from_json(r#"{"type":"user","key":"","headers":{"operation":"delete"}}"#);
    /// assert_eq!(bad.unwrap_err().field(), Some("key"));
    /// ```
    pub fn from_json(text: &str) -> super::Result<StateEvent> {
        super::parse::parse_event_text(text)
    }

    /// The event as compact JSON text.
    pub fn to_json(&self) -> String {
        // Serializing raw values and strings into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// True for a change event.
    pub fn is_change(&self) -> bool {
        matches!(self, StateEvent::Change(_))
    }

    /// True for a control event.
    pub fn is_control(&self) -> bool {
        matches!(self, StateEvent::Control(_))
    }
}

impl From<ChangeEvent> for StateEvent {
    fn from(e: ChangeEvent) -> Self {
        StateEvent::Change(e)
    }
}

impl From<ControlEvent> for StateEvent {
    fn from(e: ControlEvent) -> Self {
        StateEvent::Control(e)
    }
}

impl fmt::Display for StateEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// Writes the headers object of a change event.
struct ChangeHeadersOut<'a>(&'a ChangeHeaders);

impl Serialize for ChangeHeadersOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("operation", h.operation.as_str())?;
        if let Some(t) = &h.txid {
            m.serialize_entry("txid", t)?;
        }
        if let Some(t) = &h.timestamp {
            m.serialize_entry("timestamp", t)?;
        }
        for (k, v) in &h.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Writes the headers object of a control event.
struct ControlHeadersOut<'a>(&'a ControlEvent);

impl Serialize for ControlHeadersOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("control", c.control.as_str())?;
        if let Some(o) = &c.offset {
            m.serialize_entry("offset", o)?;
        }
        for (k, v) in &c.headers_extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Serialize for ChangeEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", &self.entity_type)?;
        m.serialize_entry("key", &self.key)?;
        if let Some(v) = &self.value {
            m.serialize_entry("value", &**v)?;
        }
        if let Some(v) = &self.old_value {
            m.serialize_entry("old_value", &**v)?;
        }
        m.serialize_entry("headers", &ChangeHeadersOut(&self.headers))?;
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Serialize for ControlEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("headers", &ControlHeadersOut(self))?;
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Serialize for StateEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StateEvent::Change(c) => c.serialize(s),
            StateEvent::Control(c) => c.serialize(s),
        }
    }
}

/// Deserializes and validates (JSON deserializers only: the event is read as raw JSON
/// first). A malformed event is a deserialization error carrying the field name.
impl<'de> Deserialize<'de> for StateEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        super::parse::parse_event(&raw).map_err(serde::de::Error::custom)
    }
}
