//! uniffi bindings of the durastream client, for the Kotlin (`kotlin/`) and Swift (`swift/`)
//! packages.
//!
//! A thin adapter over `durastream::client`: it converts arguments, owns the one tokio
//! runtime ([`runtime`]), maps errors once ([`error`]) and holds no protocol logic. Every
//! network call is an `async` function: Kotlin sees a `suspend fun`, Swift an `async`
//! method. Reads are objects with `next()` and `nextBatch(max)`; the foreign packages wrap
//! them in a `Flow` / `AsyncSequence`.
//!
//! Methods that close a *stream* are named `close_stream`, never `close`: in Kotlin every
//! object is `AutoCloseable`, and `close()` there frees the handle.

// The uniffi scaffolding macros expand to `extern "C"` functions with `unsafe` blocks
// (every one behind uniffi's own panic boundary). This crate writes no `unsafe` itself.
#![allow(unsafe_code)]
// `DurastreamError` carries its facts by value because uniffi serializes it across the
// boundary as is; errors are the cold path, so the large `Err` variant costs nothing that
// matters.
#![allow(clippy::result_large_err)]

mod client;
mod error;
mod producer;
mod reader;
mod runtime;
#[cfg(feature = "server")]
mod server;
mod state;
mod stream;

pub use client::{Client, ClientOptions, HeaderProvider, RetryConfig, TimeoutConfig};
pub use error::{DurastreamError, ErrorInfo};
pub use producer::{Producer, ProducerErrorListener, ProducerOptions};
pub use reader::{Chunk, JsonBatch, JsonReader, LiveMode, ReadOptions, Reader};
#[cfg(feature = "server")]
pub use server::{TestServer, TestServerOptions};
pub use state::{
    build_change_event, validate_state_event, ApplyOutcome, ChangeKind, Entity, MalformedEvent,
    MaterializedState, StateChange, StateFollower, StateFollowerOptions, StateUpdate,
};
pub use stream::{
    AppendOptions, AppendResult, CloseResult, CreateOptions, CreateResult, DurableStream,
    ForkOptions, StreamInfo,
};

uniffi::setup_scaffolding!();

/// The version of the native library (the workspace version).
#[uniffi::export]
pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Checks retry options the way [`Client::with_options`] does, without building a client.
/// Fails with `InvalidArgument` naming the option.
#[uniffi::export]
pub fn validate_retry_options(retry: RetryConfig) -> Result<(), DurastreamError> {
    client::retry_options(&retry).map(|_| ())
}

/// Checks producer options (and the producer id, when given) the way
/// [`DurableStream::producer`] does, without a stream. Fails with `InvalidArgument` naming
/// the option.
#[uniffi::export(default(producer_id = None))]
pub fn validate_producer_options(
    options: ProducerOptions,
    producer_id: Option<String>,
) -> Result<(), DurastreamError> {
    producer::core_options(producer_id.as_deref(), &options, None).map(|_| ())
}
