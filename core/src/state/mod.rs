//! The Durable Streams State Protocol: change events (insert, update, delete on an entity
//! identified by `type` and `key`) and control events (`snapshot-start`, `snapshot-end`,
//! `reset`) on a JSON stream, and the state they materialize.
//!
//! - [`StateEvent`], [`ChangeEvent`], [`ControlEvent`]: the messages, with serde; reading
//!   one validates it against the spec and names the field at fault; fields outside the
//!   spec are kept and written back.
//! - [`insert`], [`update`], [`upsert`], [`delete`], [`ControlEvent::reset`]: builders.
//! - [`MaterializedState`]: type → key → value, with typed accessors and a [`Change`] per
//!   applied event.
//! - [`Checkpoint`]: an offset plus the state up to it, saved as JSON.
//! - With the `client` feature: [`StateFollower`] (catch up, then follow live, resume from
//!   a checkpoint) and [`StateWriter`] (exactly-once writes through the idempotent
//!   producer); [`SharedFollower`], a follower whose state can be read while it waits,
//!   for the bindings.
//!
//! Every binding uses this module; none re-implements the rules. What the spec leaves
//! open and how it was decided is written down in `tests/state/README.md`.
//!
//! ```
//! use durastream::state::{self, MaterializedState, MalformedPolicy};
//!
//! let chunk = br#"[
//!   {"type":"user","key":"1","value":{"name":"Alice"},"headers":{"operation":"insert"}},
//!   {"type":"user","key":"1","headers":{"operation":"explode"}},
//!   {"type":"user","key":"1","value":{"name":"Alice Smith"},"headers":{"operation":"update"}}
//! ]"#;
//! let mut s = MaterializedState::new();
//! let outcome = s.apply_batch_json(chunk, MalformedPolicy::Skip)?;
//! assert_eq!(outcome.changes.len(), 2);
//! assert_eq!(outcome.malformed[0].field(), Some("headers.operation"));
//! assert_eq!(outcome.malformed[0].index(), Some(1));
//! let name: Option<serde_json::Value> = s.get("user", "1")?;
//! assert_eq!(name.unwrap()["name"], "Alice Smith");
//! # Ok::<(), durastream::state::Error>(())
//! ```

#![warn(missing_docs)]

mod builder;
mod checkpoint;
mod error;
mod event;
mod materialized;
mod parse;
mod quick;
mod scan;

#[cfg(feature = "client")]
mod follower;
#[cfg(feature = "client")]
mod shared;
#[cfg(feature = "client")]
mod writer;

pub use builder::{change_json, delete, insert, to_json, update, upsert};
pub use checkpoint::Checkpoint;
pub use error::{Error, ErrorKind, Result};
pub use event::{
    ChangeEvent, ChangeHeaders, Control, ControlEvent, Extra, Json, Operation, StateEvent,
};
pub use materialized::{BatchOutcome, Change, MalformedPolicy, MaterializedState};
pub use parse::{is_rfc3339, parse_batch, parse_event};

#[cfg(feature = "client")]
pub use follower::{FollowerOptions, MalformedCallback, StateFollower, Update};
#[cfg(feature = "client")]
pub use shared::{SharedFollower, StateView};
#[cfg(feature = "client")]
pub use writer::StateWriter;
