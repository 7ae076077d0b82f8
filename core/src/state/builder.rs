//! Building events: `insert`, `update`, `upsert`, `delete` and the control events.
//!
//! ```
//! use durastream::state::{self, StateEvent};
//! use serde_json::json;
//!
//! let e = state::update("user", "1", &json!({"name": "Ann B."}))?
//!     .old_value(&json!({"name": "Ann"}))?
//!     .txid("tx-7")
//!     .timestamp("2025-01-15T10:30:00Z");
//! e.validate()?;
//! assert_eq!(
//!     e.to_json(),
//!     r#"{"type":"user","key":"1","value":{"name":"Ann B."},"old_value":{"name":"Ann"},"headers":{"operation":"update","txid":"tx-7","timestamp":"2025-01-15T10:30:00Z"}}"#
//! );
//! # Ok::<(), durastream::state::Error>(())
//! ```

use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

use super::error::{Error, Result};
use super::event::{
    ChangeEvent, ChangeHeaders, Control, ControlEvent, Extra, Json, Operation, StateEvent,
};
use super::parse::is_rfc3339;

/// Encodes a value as JSON text.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Json> {
    serde_json::value::to_raw_value(value).map(Arc::from).map_err(|e| {
        Error::invalid_argument("value", format!("cannot encode value as JSON: {e}")).with_source(e)
    })
}

/// An insert of `value` at `entity_type`/`key`.
pub fn insert<T: Serialize + ?Sized>(
    entity_type: &str,
    key: &str,
    value: &T,
) -> Result<ChangeEvent> {
    ChangeEvent::new(Operation::Insert, entity_type, key, Some(to_json(value)?))
}

/// An update of `entity_type`/`key` to `value`.
pub fn update<T: Serialize + ?Sized>(
    entity_type: &str,
    key: &str,
    value: &T,
) -> Result<ChangeEvent> {
    ChangeEvent::new(Operation::Update, entity_type, key, Some(to_json(value)?))
}

/// An upsert (insert or replace) of `value` at `entity_type`/`key`, written with
/// `operation: "upsert"` as the npm package's helpers write it.
pub fn upsert<T: Serialize + ?Sized>(
    entity_type: &str,
    key: &str,
    value: &T,
) -> Result<ChangeEvent> {
    ChangeEvent::new(Operation::Upsert, entity_type, key, Some(to_json(value)?))
}

/// A delete of `entity_type`/`key` (no `value`).
pub fn delete(entity_type: &str, key: &str) -> Result<ChangeEvent> {
    ChangeEvent::new(Operation::Delete, entity_type, key, None)
}

/// Builds a change event from JSON text, for bindings that hold values as text:
/// `value` and `old_value` as JSON text (`value` is required but for delete, where it is
/// left out), `headers` a JSON object (`txid` and `timestamp` strings, checked; others
/// kept as given; an `operation` member is ignored, the builder's own wins, as in the npm
/// package's helpers). Returns the event as compact JSON text, validated.
///
/// ```
/// use durastream::state::{change_json, Operation};
/// let e = change_json(Operation::Upsert, "user", "1", Some(r#"{"name":"Ann"}"#), None,
///     Some(r#"{"txid":"t1"}"#))?;
/// assert_eq!(e, r#"{"type":"user","key":"1","value":{"name":"Ann"},"headers":{"operation":"upsert","txid":"t1"}}"#);
/// # Ok::<(), durastream::state::Error>(())
/// ```
pub fn change_json(
    operation: Operation,
    entity_type: &str,
    key: &str,
    value: Option<&str>,
    old_value: Option<&str>,
    headers: Option<&str>,
) -> Result<String> {
    let raw = |text: Option<&str>, name: &str| -> Result<Option<Json>> {
        text.map(|t| {
            RawValue::from_string(t.to_string()).map(Arc::from).map_err(|e| {
                Error::invalid_argument(name, format!("{name} is not JSON: {e}")).with_source(e)
            })
        })
        .transpose()
    };
    let value = if operation.needs_value() { raw(value, "value")? } else { None };
    let mut event = ChangeEvent::new(operation, entity_type, key, value)?;
    event.old_value = raw(old_value, "old_value")?;
    if let Some(h) = headers {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(h).map_err(|e| {
                Error::invalid_argument("headers", format!("headers must be a JSON object: {e}"))
                    .with_source(e)
            })?;
        for (name, v) in map {
            if name != "operation" {
                event = event.header(&name, &v)?;
            }
        }
    }
    event.validate()?;
    Ok(event.to_json())
}

impl ChangeEvent {
    /// A change event with the given operation; `type` and `key` must not be empty.
    pub fn new(
        operation: Operation,
        entity_type: &str,
        key: &str,
        value: Option<Json>,
    ) -> Result<ChangeEvent> {
        if entity_type.is_empty() {
            return Err(Error::invalid_argument("type", "type must not be empty"));
        }
        if key.is_empty() {
            return Err(Error::invalid_argument("key", "key must not be empty"));
        }
        Ok(ChangeEvent {
            entity_type: entity_type.to_string(),
            key: key.to_string(),
            value,
            old_value: None,
            headers: ChangeHeaders { operation, txid: None, timestamp: None, extra: Extra::new() },
            extra: Extra::new(),
        })
    }

    /// Sets `old_value`.
    pub fn old_value<T: Serialize + ?Sized>(mut self, old: &T) -> Result<Self> {
        self.old_value = Some(to_json(old)?);
        Ok(self)
    }

    /// Sets `headers.txid` (checked by [`ChangeEvent::validate`]: non-empty).
    pub fn txid(mut self, txid: impl Into<String>) -> Self {
        self.headers.txid = Some(txid.into());
        self
    }

    /// Sets `headers.timestamp` (checked by [`ChangeEvent::validate`]: RFC 3339).
    pub fn timestamp(mut self, timestamp: impl Into<String>) -> Self {
        self.headers.timestamp = Some(timestamp.into());
        self
    }

    /// Sets `headers.timestamp` to the current time.
    pub fn timestamp_now(self) -> Self {
        let now = time::OffsetDateTime::now_utc();
        let text = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string());
        self.timestamp(text)
    }

    /// Sets another header. `txid` and `timestamp` go to their fields (as strings);
    /// `operation` and `control` are refused.
    pub fn header<T: Serialize + ?Sized>(mut self, name: &str, value: &T) -> Result<Self> {
        let raw = to_json(value)?;
        match name {
            "operation" | "control" => {
                return Err(Error::invalid_argument(
                    "headers",
                    format!("headers.{name} is set by the builder"),
                ))
            }
            "txid" | "timestamp" => {
                let s: String = serde_json::from_str(raw.get()).map_err(|_| {
                    Error::invalid_argument("headers", format!("headers.{name} must be a string"))
                })?;
                if name == "txid" {
                    self.headers.txid = Some(s);
                } else {
                    self.headers.timestamp = Some(s);
                }
            }
            _ => {
                self.headers.extra.insert(name.to_string(), boxed(&raw));
            }
        }
        Ok(self)
    }

    /// Checks the event against the spec, naming the field at fault (the same checks as
    /// reading one).
    pub fn validate(&self) -> Result<()> {
        let field = |f: &str, m: String| Err(Error::invalid_argument(f, m));
        if self.entity_type.is_empty() {
            return field("type", "type must not be empty".into());
        }
        if self.key.is_empty() {
            return field("key", "key must not be empty".into());
        }
        let op = self.headers.operation;
        if op.needs_value() && self.value.is_none() {
            return field("value", format!("value is required for {}", op.as_str()));
        }
        if self.headers.txid.as_deref() == Some("") {
            return field("headers.txid", "headers.txid must not be empty".into());
        }
        if let Some(ts) = &self.headers.timestamp {
            if !is_rfc3339(ts) {
                return field(
                    "headers.timestamp",
                    format!("headers.timestamp must be an RFC 3339 timestamp, got {ts:?}"),
                );
            }
        }
        if let Some(k) =
            ["operation", "control"].iter().find(|k| self.headers.extra.contains_key(**k))
        {
            return field("headers", format!("headers.{k} must not be an extra header"));
        }
        Ok(())
    }
}

fn boxed(raw: &RawValue) -> Box<RawValue> {
    raw.to_owned()
}

impl ControlEvent {
    /// A control event of the given kind.
    pub fn new(control: Control) -> ControlEvent {
        ControlEvent { control, offset: None, headers_extra: Extra::new(), extra: Extra::new() }
    }

    /// A `reset` control event.
    pub fn reset() -> ControlEvent {
        ControlEvent::new(Control::Reset)
    }

    /// A `snapshot-start` control event.
    pub fn snapshot_start() -> ControlEvent {
        ControlEvent::new(Control::SnapshotStart)
    }

    /// A `snapshot-end` control event.
    pub fn snapshot_end() -> ControlEvent {
        ControlEvent::new(Control::SnapshotEnd)
    }

    /// Sets `headers.offset` (non-empty).
    pub fn offset(mut self, offset: impl Into<String>) -> Self {
        self.offset = Some(offset.into());
        self
    }

    /// Checks the event against the spec.
    pub fn validate(&self) -> Result<()> {
        if self.offset.as_deref() == Some("") {
            return Err(Error::invalid_argument(
                "headers.offset",
                "headers.offset must not be empty",
            ));
        }
        if self.headers_extra.contains_key("operation") {
            return Err(Error::invalid_argument("headers", "a control event has no operation"));
        }
        Ok(())
    }
}

impl StateEvent {
    /// Checks the event against the spec, naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        match self {
            StateEvent::Change(c) => c.validate(),
            StateEvent::Control(c) => c.validate(),
        }
    }
}

impl ChangeEvent {
    /// The event as compact JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl ControlEvent {
    /// The event as compact JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
