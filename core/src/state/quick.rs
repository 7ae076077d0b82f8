//! The fast path for a batch of well-formed events: one serde_json pass over the chunk that
//! borrows `type`, `key` and `value` from the input and validates, then skips, the fields
//! that do not change the state (`old_value`, extras). No event object, no extras map, no
//! per-event allocation but the stored value.
//!
//! It gives up on anything out of the ordinary (invalid JSON, a malformed event, a
//! non-string `type` on a control event, ...) and the caller then takes the full path in
//! `parse.rs`, which says what is wrong. So both paths accept exactly the same batches and
//! apply them the same way; the fixtures in `tests/state` run through both.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::event::{Control, Operation};
use super::parse::{is_rfc3339, Key};

/// One well-formed event, borrowed from its chunk.
pub(super) enum Quick<'a> {
    /// An insert, update or upsert.
    Set { entity_type: Cow<'a, str>, key: Cow<'a, str>, operation: Operation, value: &'a RawValue },
    /// A delete.
    Delete { entity_type: Cow<'a, str>, key: Cow<'a, str> },
    /// A snapshot boundary or a reset.
    Control { control: Control, offset: Option<Cow<'a, str>> },
}

/// Reads a JSON array of events, or `None` when the full path must handle it.
pub(super) fn quick_batch(data: &[u8]) -> Option<Vec<Quick<'_>>> {
    serde_json::from_slice::<Batch<'_>>(data).ok().map(|b| b.0)
}

struct Batch<'a>(Vec<Quick<'a>>);

impl<'de> Deserialize<'de> for Batch<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Batch<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array of events")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Batch<'de>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(256));
                while let Some(q) = seq.next_element::<Quick<'de>>()? {
                    out.push(q);
                }
                Ok(Batch(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// The members of `headers` the rules look at, as raw JSON (what each must be depends on
/// whether the event is a change or a control event).
#[derive(Default)]
struct Headers<'a> {
    operation: Option<&'a RawValue>,
    control: Option<&'a RawValue>,
    txid: Option<&'a RawValue>,
    timestamp: Option<&'a RawValue>,
    offset: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for Headers<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Headers<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a headers object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Headers<'de>, A::Error> {
                let mut h = Headers::default();
                // The last of a repeated member wins, as in `JSON.parse` and `parse.rs`.
                while let Some(name) = map.next_key::<Key<'de>>()? {
                    let slot = match &*name.0 {
                        "operation" => &mut h.operation,
                        "control" => &mut h.control,
                        "txid" => &mut h.txid,
                        "timestamp" => &mut h.timestamp,
                        "offset" => &mut h.offset,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = Some(map.next_value::<&'de RawValue>()?);
                }
                Ok(h)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Quick<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Quick<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Quick<'de>, A::Error> {
                let mut entity_type = None;
                let mut key = None;
                let mut value = None;
                let mut headers = None;
                while let Some(name) = map.next_key::<Key<'de>>()? {
                    match &*name.0 {
                        // A non-string type or key fails here: the full path decides.
                        "type" => entity_type = Some(map.next_value::<Key<'de>>()?.0),
                        "key" => key = Some(map.next_value::<Key<'de>>()?.0),
                        "value" => value = Some(map.next_value::<&'de RawValue>()?),
                        "headers" => headers = Some(map.next_value::<Headers<'de>>()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let headers = headers.ok_or_else(|| A::Error::custom("irregular"))?;
                event(entity_type, key, value, headers).ok_or_else(|| A::Error::custom("irregular"))
            }
        }
        d.deserialize_map(V)
    }
}

/// The spec's rules for one event (as `parse::parse_members` applies them); `None` for
/// anything those rules refuse.
fn event<'a>(
    entity_type: Option<Cow<'a, str>>,
    key: Option<Cow<'a, str>>,
    value: Option<&'a RawValue>,
    h: Headers<'a>,
) -> Option<Quick<'a>> {
    match (h.operation, h.control) {
        (Some(op), None) => {
            let operation = Operation::parse(&text(op)?)?;
            let entity_type = entity_type.filter(|t| !t.is_empty())?;
            let key = key.filter(|k| !k.is_empty())?;
            if let Some(t) = h.txid {
                if text(t)?.is_empty() {
                    return None;
                }
            }
            if let Some(t) = h.timestamp {
                if !is_rfc3339(&text(t)?) {
                    return None;
                }
            }
            if operation == Operation::Delete {
                Some(Quick::Delete { entity_type, key })
            } else {
                Some(Quick::Set { entity_type, key, operation, value: value? })
            }
        }
        (None, Some(c)) => {
            let control = Control::parse(&text(c)?)?;
            let offset = match h.offset {
                Some(o) => Some(text(o).filter(|s| !s.is_empty())?),
                None => None,
            };
            Some(Quick::Control { control, offset })
        }
        _ => None,
    }
}

/// The content of a JSON string given as raw JSON; `None` for any other kind.
fn text(raw: &RawValue) -> Option<Cow<'_, str>> {
    let t = raw.get();
    if t.len() >= 2 && t.starts_with('"') && !t.contains('\\') {
        return Some(Cow::Borrowed(&t[1..t.len() - 1]));
    }
    serde_json::from_str::<String>(t).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(data: &str) -> Option<Vec<&'static str>> {
        let q = quick_batch(data.as_bytes())?;
        Some(
            q.iter()
                .map(|e| match e {
                    Quick::Set { .. } => "set",
                    Quick::Delete { .. } => "delete",
                    Quick::Control { .. } => "control",
                })
                .collect(),
        )
    }

    #[test]
    fn well_formed_batches_take_the_fast_path() {
        let data = r#"[{"type":"t","key":"k","value":{"a":[1,2]},"old_value":null,
            "headers":{"operation":"update","txid":"x","timestamp":"2025-01-15T10:30:00Z",
            "offset":5,"from":"y"},"extra":true},
            {"type":"t","key":"k","headers":{"operation":"delete"}},
            {"headers":{"control":"reset","offset":"0_1","txid":""},"type":7}]"#;
        // The last event has a non-string `type`: valid (an extra), but left to the full
        // path.
        assert_eq!(kinds(data), None);
        let data = data.replace(r#""type":7"#, r#""type":"x""#);
        assert_eq!(kinds(&data), Some(vec!["set", "delete", "control"]));
        assert_eq!(kinds("[]"), Some(vec![]));
    }

    #[test]
    fn escaped_names_and_values_are_read() {
        let data =
            r#"[{"ty\u0070e":"a\"b","key":"k\n","value":"v\\","headers":{"operation":"insert"}}]"#;
        let q = quick_batch(data.as_bytes()).expect("well formed");
        match &q[0] {
            Quick::Set { entity_type, key, value, .. } => {
                assert_eq!(entity_type, "a\"b");
                assert_eq!(key, "k\n");
                assert_eq!(value.get(), r#""v\\""#);
            }
            _ => panic!("a set"),
        }
    }

    #[test]
    fn anything_irregular_is_left_to_the_full_path() {
        for data in [
            "",
            "{}",
            "[1]",
            "[{}]",
            r#"[{"type":"t","key":"k","headers":{"operation":"insert"}}]"#,
            r#"[{"type":"","key":"k","headers":{"operation":"delete"}}]"#,
            r#"[{"type":"t","key":"k","headers":{"operation":"merge"}}]"#,
            r#"[{"type":"t","key":"k","headers":{"operation":"delete","txid":""}}]"#,
            r#"[{"type":"t","key":"k","headers":{"operation":"delete","timestamp":"now"}}]"#,
            r#"[{"type":"t","key":"k","headers":{"operation":"delete","control":"reset"}}]"#,
            r#"[{"headers":{"control":"reset","offset":""}}]"#,
            r#"[{"headers":{"control":"stop"}}]"#,
            r#"[{"type":"t","key":"k","value":01,"headers":{"operation":"insert"}}]"#,
            r#"[{"type":"t","key":"k","headers":{"operation":"delete"}},]"#,
            "[{\"type\":\"t\",\"key\":\"k\u{1}\",\"headers\":{\"operation\":\"delete\"}}]",
        ] {
            assert!(quick_batch(data.as_bytes()).is_none(), "{data}");
        }
    }
}
