//! Node.js bindings for durastream: the Durable Streams client (stream handles, readers in
//! every live mode, the idempotent producer) and the in-process server, over napi-rs.
//!
//! This crate is a thin adapter over `durastream::client` and `durastream_server`: it
//! converts arguments, validates them through the core's `from_raw` helpers, runs futures
//! on one tokio runtime ([`runtime`]) and maps errors once ([`error`]). The JavaScript
//! layer in `node/lib/` wraps these `Native*` classes in the `@durable-streams/client` API.

// napi-derive expands `#[napi]` items into `unsafe` FFI glue; this crate itself writes no
// unsafe code, but the workspace's `deny(unsafe_code)` would reject the generated glue.
#![allow(unsafe_code)]

pub mod client;
pub mod error;
pub mod producer;
pub mod reader;
pub mod runtime;
#[cfg(feature = "server")]
pub mod server;
pub mod state;
