//! Building a snapshot: materialize a stream's State Protocol events, then write the state
//! as `snapshot-start`, one `insert` per entity, `snapshot-end`. Blocking (reads storage,
//! parses every event): run it off the async threads.

use durastream::state::{ChangeEvent, ControlEvent, MalformedPolicy, MaterializedState, Operation};
use durastream::Offset;

use super::CompactError;
use crate::store::Stream;

/// Bytes read from storage at once while materializing.
const CHUNK: u64 = 1024 * 1024;

/// What materializing read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Well-formed State Protocol events applied.
    pub events: u64,
    /// Messages that are not State Protocol events (skipped, as a follower skips them).
    pub malformed: u64,
}

/// Applies the stored JSON messages of `stream` in `[from, to)` (message boundaries) to
/// `state`.
pub fn apply_range(
    stream: &Stream,
    from: u64,
    to: u64,
    state: &mut MaterializedState,
    counts: &mut Counts,
) -> Result<(), CompactError> {
    let mut pos = from;
    while pos < to {
        let mut len = CHUNK.min(to - pos);
        let (bytes, cut) = loop {
            let bytes = stream.read(pos, pos + len).map_err(CompactError::Io)?;
            if pos + len == to {
                let n = bytes.len();
                break (bytes, n);
            }
            match memchr::memrchr(b'\n', &bytes) {
                Some(i) => break (bytes, i + 1),
                // One message longer than the chunk: read more of it.
                None => len = (len * 2).min(to - pos),
            }
        };
        let array = durastream::json::to_array(&bytes[..cut]);
        let outcome = state
            .apply_batch_json(&array, MalformedPolicy::Skip)
            .map_err(|e| CompactError::Internal(format!("stored messages do not parse: {e}")))?;
        counts.events += outcome.changes.len() as u64;
        counts.malformed += outcome.malformed.len() as u64;
        pos += cut as u64;
    }
    Ok(())
}

/// The snapshot of `state` covering the source up to `pos`, as a JSON array body: at most
/// `max` bytes, else [`CompactError::TooLarge`].
pub fn snapshot_body(
    state: &MaterializedState,
    pos: u64,
    max: usize,
) -> Result<Vec<u8>, CompactError> {
    let token = Offset(pos).to_string();
    let mut out = Vec::with_capacity(4096);
    out.push(b'[');
    out.extend_from_slice(
        ControlEvent::snapshot_start().offset(token.as_str()).to_json().as_bytes(),
    );
    for t in state.types() {
        let mut keys: Vec<(&str, &serde_json::value::RawValue)> = state.entries(t).collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (k, _) in keys {
            let value = state.get_json(t, k);
            let event = ChangeEvent::new(Operation::Insert, t, k, value)
                .map_err(|e| CompactError::Internal(format!("cannot write entity: {e}")))?;
            out.push(b',');
            out.extend_from_slice(event.to_json().as_bytes());
            if out.len() > max {
                return Err(CompactError::TooLarge { max });
            }
        }
    }
    out.push(b',');
    out.extend_from_slice(ControlEvent::snapshot_end().offset(token).to_json().as_bytes());
    out.push(b']');
    if out.len() > max {
        return Err(CompactError::TooLarge { max });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use durastream::state::{self, MaterializedState};
    use serde_json::json;

    #[test]
    fn snapshot_holds_latest_values_without_deleted_keys() {
        let mut s = MaterializedState::new();
        let events = [
            state::insert("user", "b", &json!({"n": 1})).expect("event"),
            state::insert("user", "a", &json!({"n": 2})).expect("event"),
            state::update("user", "b", &json!({"n": 3})).expect("event"),
            state::insert("flag", "x", &true).expect("event"),
            state::delete("flag", "x").expect("event"),
        ];
        for e in events {
            s.apply(e.into());
        }
        let body = snapshot_body(&s, 42, 1 << 20).expect("small");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON array");
        let token = Offset(42).to_string();
        assert_eq!(
            v,
            json!([
                {"headers": {"control": "snapshot-start", "offset": token}},
                {"type": "user", "key": "a", "value": {"n": 2}, "headers": {"operation": "insert"}},
                {"type": "user", "key": "b", "value": {"n": 3}, "headers": {"operation": "insert"}},
                {"headers": {"control": "snapshot-end", "offset": token}},
            ])
        );
        // Materialized again, the snapshot gives the same state.
        let mut again = MaterializedState::new();
        again.apply_batch_json(&body, MalformedPolicy::Stop).expect("valid events");
        assert_eq!(again.to_json(), s.to_json());
        assert!(!again.in_snapshot());
        assert!(matches!(snapshot_body(&s, 42, 100), Err(CompactError::TooLarge { max: 100 })));
    }
}
