//! A saved point of a follower: the stream offset and the state built up to it, so a
//! follower resumes without replaying the stream from the start.
//!
//! The saved form is one JSON document:
//! `{"version":1,"offset":"<offset>","in_snapshot":false,"state":{type:{key:value}}}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::{Error, ErrorKind, Result};
use super::materialized::MaterializedState;

const VERSION: u32 = 1;

/// The offset a follower had reached and the state it had built.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The stream offset to read from next (`-1` for the beginning).
    pub offset: String,
    /// The state built from everything before `offset`.
    pub state: MaterializedState,
}

#[derive(Serialize)]
struct Out<'a> {
    version: u32,
    offset: &'a str,
    in_snapshot: bool,
    state: BTreeMap<&'a str, BTreeMap<&'a str, &'a RawValue>>,
}

#[derive(Deserialize)]
struct In {
    version: u32,
    offset: String,
    #[serde(default)]
    in_snapshot: bool,
    state: BTreeMap<String, BTreeMap<String, Box<RawValue>>>,
}

impl Checkpoint {
    /// A checkpoint at the start of the stream, with an empty state.
    pub fn beginning() -> Checkpoint {
        Checkpoint { offset: "-1".to_string(), state: MaterializedState::new() }
    }

    /// The checkpoint as JSON text, to save anywhere.
    ///
    /// ```
    /// use durastream::state::{self, Checkpoint, MaterializedState};
    /// let mut s = MaterializedState::new();
    /// s.apply(state::insert("flag", "dark-mode", &true)?.into());
    /// let saved = Checkpoint { offset: "0_42".into(), state: s }.to_json();
    /// let back = Checkpoint::from_json(&saved)?;
    /// assert_eq!(back.offset, "0_42");
    /// assert_eq!(back.state.get::<bool>("flag", "dark-mode")?, Some(true));
    /// # Ok::<(), durastream::state::Error>(())
    /// ```
    pub fn to_json(&self) -> String {
        let out = Out {
            version: VERSION,
            offset: &self.offset,
            in_snapshot: self.state.in_snapshot(),
            state: self.state.sorted(),
        };
        serde_json::to_string(&out).unwrap_or_default()
    }

    /// Reads a checkpoint saved by [`Checkpoint::to_json`]. A document of another
    /// version or shape is an [`ErrorKind::Checkpoint`] error.
    pub fn from_json(text: &str) -> Result<Checkpoint> {
        let bad = |m: String| Error::new(ErrorKind::Checkpoint, m);
        let doc: In = serde_json::from_str(text)
            .map_err(|e| bad(format!("not a state checkpoint: {e}")).with_source(e))?;
        if doc.version != VERSION {
            return Err(bad(format!(
                "checkpoint version {} is not supported (expected {VERSION})",
                doc.version
            )));
        }
        if doc.offset.is_empty() {
            return Err(bad("checkpoint offset is empty".to_string()));
        }
        Ok(Checkpoint {
            offset: doc.offset,
            state: MaterializedState::from_map(doc.state, doc.in_snapshot),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_checkpoints_are_refused() {
        for text in [
            "",
            "{}",
            r#"{"version":2,"offset":"1","state":{}}"#,
            r#"{"version":1,"offset":"","state":{}}"#,
        ] {
            let e = Checkpoint::from_json(text).expect_err(text);
            assert_eq!(e.kind(), ErrorKind::Checkpoint, "{text}");
        }
        let ok =
            Checkpoint::from_json(r#"{"version":1,"offset":"-1","in_snapshot":true,"state":{}}"#);
        assert!(ok.expect("valid").state.in_snapshot());
    }
}
