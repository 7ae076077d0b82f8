//! Durable Streams protocol: the wire types shared by client and server.
//!
//! - [`offset`]: offset tokens and the `-1` / `now` sentinels.
//! - [`headers`]: header and query parameter names.
//! - [`json`]: JSON-mode framing (array flattening on append, array wrapping on read).
//! - [`sse`]: Server-Sent Events framing, both encoding and byte-exact parsing.
//! - [`cursor`]: `Stream-Cursor` values for CDN collapsing.
//! - [`values`]: strict parsing of header values (TTL, expiry, producer numbers).
//!
//! With the `client` feature the crate also carries the HTTP client, readers and the
//! idempotent producer. With the `state` feature it carries the State Protocol
//! ([`state`]): events, materialized state, and (with `client` too) a live follower.

pub mod cursor;
pub mod headers;
pub mod json;
pub mod offset;
pub mod sse;
pub mod values;

#[cfg(feature = "client")]
pub mod client;

#[cfg(feature = "state")]
pub mod state;

pub use offset::{Offset, OffsetParam};
