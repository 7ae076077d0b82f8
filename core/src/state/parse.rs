//! Reading events from JSON and checking them against the spec (sections 4, 5 and the
//! JSON Schema), naming the field at fault.
//!
//! The message kind is decided by the headers: `headers.operation` makes a change event,
//! `headers.control` a control event, both or neither is malformed. Fields outside the
//! spec are kept, not refused (the npm package itself adds `headers.offset` and
//! `headers.from`); when a field appears twice the last one wins, as in `JSON.parse`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::{Error, Result};
use super::event::{
    ChangeEvent, ChangeHeaders, Control, ControlEvent, Extra, Json, Operation, StateEvent,
};

/// An object key (or any string), borrowed from the input when it has no escapes.
pub(super) struct Key<'a>(pub(super) Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON object split into its members, values left as raw JSON.
struct RawObject<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<RawObject<'de>, A::Error> {
                members(map)
            }
        }
        d.deserialize_map(V)
    }
}

fn members<'de, A: MapAccess<'de>>(mut map: A) -> std::result::Result<RawObject<'de>, A::Error> {
    let mut out = Vec::with_capacity(map.size_hint().unwrap_or(6));
    while let Some((k, v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
        out.push((k.0, v));
    }
    Ok(RawObject(out))
}

fn object<'a>(raw: &'a RawValue, field: &str) -> Result<RawObject<'a>> {
    serde_json::from_str::<RawObject<'a>>(raw.get()).map_err(|_| {
        let what = if field.is_empty() { "an event" } else { field };
        Error::malformed(field, format!("{what} must be a JSON object, got {}", kind_of(raw)))
    })
}

fn kind_of(raw: &RawValue) -> &'static str {
    match raw.get().trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

fn string(raw: &RawValue, field: &str) -> Result<String> {
    // The raw text is valid JSON already: a quoted string without escapes is its own
    // content, no need to run the parser again.
    let text = raw.get();
    if text.len() >= 2 && text.starts_with('"') && !text.contains('\\') {
        return Ok(text[1..text.len() - 1].to_string());
    }
    serde_json::from_str::<String>(text).map_err(|_| {
        Error::malformed(field, format!("{field} must be a string, got {}", kind_of(raw)))
    })
}

fn non_empty(raw: &RawValue, field: &str) -> Result<String> {
    let s = string(raw, field)?;
    if s.is_empty() {
        return Err(Error::malformed(field, format!("{field} must not be empty")));
    }
    Ok(s)
}

fn owned(raw: &RawValue) -> Json {
    Arc::from(raw.to_owned())
}

fn put(extra: &mut Extra, k: Cow<'_, str>, v: &RawValue) {
    extra.insert(k.into_owned(), v.to_owned());
}

/// Checks an RFC 3339 date-time (`2025-01-15T10:30:00Z`, `...T10:30:00.5+02:00`).
pub fn is_rfc3339(s: &str) -> bool {
    OffsetDateTime::parse(s, &Rfc3339).is_ok()
}

/// Parses and validates one event given as JSON text.
pub(crate) fn parse_event_text(text: &str) -> Result<StateEvent> {
    let raw: &RawValue = serde_json::from_str(text).map_err(|e| {
        Error::malformed("", format!("event is not valid JSON: {e}")).with_source(e)
    })?;
    parse_event(raw)
}

/// Parses and validates one event given as raw JSON.
pub fn parse_event(raw: &RawValue) -> Result<StateEvent> {
    parse_members(object(raw, "")?)
}

/// Validates an event given as its object members.
fn parse_members(obj: RawObject<'_>) -> Result<StateEvent> {
    let mut headers = None;
    let mut fields: [Option<&RawValue>; 4] = [None; 4];
    let mut extra = Extra::new();
    for (k, v) in obj.0 {
        match &*k {
            "headers" => headers = Some(v),
            "type" => fields[0] = Some(v),
            "key" => fields[1] = Some(v),
            "value" => fields[2] = Some(v),
            "old_value" => fields[3] = Some(v),
            _ => put(&mut extra, k, v),
        }
    }
    let headers = headers.ok_or_else(|| Error::malformed("headers", "headers is missing"))?;
    let hobj = object(headers, "headers")?;
    let mut operation = None;
    let mut control = None;
    let mut txid = None;
    let mut timestamp = None;
    let mut offset = None;
    let mut hextra = Extra::new();
    for (k, v) in hobj.0 {
        match &*k {
            "operation" => operation = Some(v),
            "control" => control = Some(v),
            "txid" => txid = Some(v),
            "timestamp" => timestamp = Some(v),
            "offset" => offset = Some(v),
            _ => put(&mut hextra, k, v),
        }
    }
    match (operation, control) {
        (Some(_), Some(_)) => Err(Error::malformed(
            "headers",
            "headers has both operation and control: an event is a change or a control",
        )),
        (None, None) => Err(Error::malformed(
            "headers.operation",
            "headers.operation (change event) or headers.control (control event) is missing",
        )),
        (None, Some(c)) => {
            let name = string(c, "headers.control")?;
            let control = Control::parse(&name).ok_or_else(|| {
                Error::malformed(
                    "headers.control",
                    format!(
                        "headers.control must be snapshot-start, snapshot-end or reset, \
                         got {name:?}"
                    ),
                )
            })?;
            let offset = offset.map(|o| non_empty(o, "headers.offset")).transpose()?;
            // A control event's other members (txid, timestamp, type, ...) are extras.
            if let Some(t) = txid {
                put(&mut hextra, Cow::Borrowed("txid"), t);
            }
            if let Some(t) = timestamp {
                put(&mut hextra, Cow::Borrowed("timestamp"), t);
            }
            for (name, v) in ["type", "key", "value", "old_value"].iter().zip(fields) {
                if let Some(v) = v {
                    put(&mut extra, Cow::Borrowed(name), v);
                }
            }
            Ok(StateEvent::Control(ControlEvent { control, offset, headers_extra: hextra, extra }))
        }
        (Some(op), None) => {
            let name = string(op, "headers.operation")?;
            let operation = Operation::parse(&name).ok_or_else(|| {
                Error::malformed(
                    "headers.operation",
                    format!("headers.operation must be insert, update or delete, got {name:?}"),
                )
            })?;
            let [ty, key, value, old_value] = fields;
            let entity_type =
                non_empty(ty.ok_or_else(|| Error::malformed("type", "type is missing"))?, "type")?;
            let key =
                non_empty(key.ok_or_else(|| Error::malformed("key", "key is missing"))?, "key")?;
            if operation.needs_value() && value.is_none() {
                return Err(Error::malformed(
                    "value",
                    format!("value is missing (required for {})", operation.as_str()),
                ));
            }
            let txid = txid.map(|t| non_empty(t, "headers.txid")).transpose()?;
            let timestamp = timestamp
                .map(|t| {
                    let s = string(t, "headers.timestamp")?;
                    if is_rfc3339(&s) {
                        Ok(s)
                    } else {
                        Err(Error::malformed(
                            "headers.timestamp",
                            format!("headers.timestamp must be an RFC 3339 timestamp, got {s:?}"),
                        ))
                    }
                })
                .transpose()?;
            // On a change event `offset` is outside the spec (the npm package sends it).
            if let Some(o) = offset {
                put(&mut hextra, Cow::Borrowed("offset"), o);
            }
            Ok(StateEvent::Change(ChangeEvent {
                entity_type,
                key,
                value: value.map(owned),
                old_value: old_value.map(owned),
                headers: ChangeHeaders { operation, txid, timestamp, extra: hextra },
                extra,
            }))
        }
    }
}

/// Splits a JSON array of events (a read chunk of a JSON stream) and parses each event.
/// The outer error is for a body that is not a JSON array; each event has its own result,
/// with its index attached to an error.
pub fn parse_batch(data: &[u8]) -> Result<Vec<Result<StateEvent>>> {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    // One pass over the array: each object is split into its members on the way.
    let items: Vec<Element<'_>> = serde_json::from_slice(data).map_err(|e| {
        Error::malformed("", format!("a batch must be a JSON array of events: {e}")).with_source(e)
    })?;
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, el)| parse_element(el).map_err(|e| e.at(i, None)))
        .collect())
}

/// Parses the events of a JSON array given as raw items (see [`parse_batch`]).
fn parse_element(el: Element<'_>) -> Result<StateEvent> {
    match el {
        Element::Object(obj) => parse_members(obj),
        Element::Other(kind) => {
            Err(Error::malformed("", format!("an event must be a JSON object, got {kind}")))
        }
    }
}

/// One item of a batch: an object split into members, or the kind of anything else.
enum Element<'a> {
    Object(RawObject<'a>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Element<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Element<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Element<'de>, A::Error> {
                Ok(Element::Object(members(map)?))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Element<'de>, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Element::Other("an array"))
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<Element<'de>, E> {
                Ok(Element::Other("a string"))
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<Element<'de>, E> {
                Ok(Element::Other("a boolean"))
            }
            fn visit_unit<E>(self) -> std::result::Result<Element<'de>, E> {
                Ok(Element::Other("null"))
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<Element<'de>, E> {
                Ok(Element::Other("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<Element<'de>, E> {
                Ok(Element::Other("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<Element<'de>, E> {
                Ok(Element::Other("a number"))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(text: &str) -> Option<String> {
        parse_event_text(text).err().and_then(|e| e.field().map(str::to_string))
    }

    #[test]
    fn fields_at_fault_are_named() {
        assert_eq!(field_of("[1]").as_deref(), Some(""));
        assert_eq!(field_of("{}").as_deref(), Some("headers"));
        assert_eq!(field_of(r#"{"headers":[]}"#).as_deref(), Some("headers"));
        assert_eq!(field_of(r#"{"headers":{}}"#).as_deref(), Some("headers.operation"));
        let op = r#"{"type":"t","key":"k","value":1,"headers":{"operation":"merge"}}"#;
        assert_eq!(field_of(op).as_deref(), Some("headers.operation"));
        let ty = r#"{"type":7,"key":"k","value":1,"headers":{"operation":"insert"}}"#;
        assert_eq!(field_of(ty).as_deref(), Some("type"));
        let key = r#"{"type":"t","value":1,"headers":{"operation":"insert"}}"#;
        assert_eq!(field_of(key).as_deref(), Some("key"));
        let value = r#"{"type":"t","key":"k","headers":{"operation":"update"}}"#;
        assert_eq!(field_of(value).as_deref(), Some("value"));
        let txid = r#"{"type":"t","key":"k","headers":{"operation":"delete","txid":""}}"#;
        assert_eq!(field_of(txid).as_deref(), Some("headers.txid"));
        let ts = r#"{"type":"t","key":"k","headers":{"operation":"delete","timestamp":"now"}}"#;
        assert_eq!(field_of(ts).as_deref(), Some("headers.timestamp"));
        let both = r#"{"type":"t","key":"k","headers":{"operation":"delete","control":"reset"}}"#;
        assert_eq!(field_of(both).as_deref(), Some("headers"));
        assert_eq!(
            field_of(r#"{"headers":{"control":"stop"}}"#).as_deref(),
            Some("headers.control")
        );
        assert_eq!(
            field_of(r#"{"headers":{"control":"reset","offset":""}}"#).as_deref(),
            Some("headers.offset")
        );
    }

    #[test]
    fn unknown_fields_round_trip() {
        let text = r#"{"type":"t","key":"k","value":{"a":1.50},"headers":{"operation":"insert","offset":"9","from":"x"},"extra":[1]}"#;
        let e = parse_event_text(text).expect("valid");
        let back = e.to_json();
        let a: serde_json::Value = serde_json::from_str(text).expect("json");
        let b: serde_json::Value = serde_json::from_str(&back).expect("json");
        assert_eq!(a, b);
        assert!(back.contains("1.50"), "values keep their exact text: {back}");
    }

    #[test]
    fn last_duplicate_wins_and_delete_needs_no_value() {
        let text = r#"{"type":"a","type":"b","key":"k","headers":{"operation":"delete"}}"#;
        match parse_event_text(text).expect("valid") {
            StateEvent::Change(c) => {
                assert_eq!(c.entity_type, "b");
                assert!(c.value.is_none());
            }
            StateEvent::Control(_) => panic!("a change"),
        }
    }

    #[test]
    fn timestamps() {
        assert!(is_rfc3339("2025-01-15T10:30:00Z"));
        assert!(is_rfc3339("2025-01-15T10:30:00.123+02:00"));
        assert!(!is_rfc3339("2025-13-15T10:30:00Z"));
        assert!(!is_rfc3339("2025-01-15"));
        assert!(!is_rfc3339("yesterday"));
    }

    #[test]
    fn batches() {
        let out = parse_batch(br#"[{"headers":{"control":"reset"}}, 5]"#).expect("array");
        assert!(out[0].is_ok());
        assert_eq!(out[1].as_ref().err().and_then(|e| e.index()), Some(1));
        assert!(parse_batch(b"{}").is_err());
        assert!(parse_batch(b"").expect("empty").is_empty());
    }
}
