//! The one tokio runtime of the addon, and cancellation.
//!
//! Choice: the addon uses **napi-rs's own tokio runtime** (the `tokio_rt` feature) rather
//! than building a second one. napi-rs creates it lazily on first use, runs every
//! `#[napi] async fn` on it, and shuts it down when the Node environment is torn down,
//! which is exactly the lifecycle a binding-owned runtime would need; a second runtime
//! would only add threads. Its worker threads do all the network, parsing and batching
//! work, so nothing blocks the JavaScript thread. Synchronous entry points that must spawn
//! (the producer's background task) enter it with [`enter`].
//!
//! Runtime threads do not keep the Node process alive: only a pending promise does, and
//! every long-running call (live reads above all) can be cut short with a [`CancelToken`],
//! which settles its promise at once.

use std::future::Future;

use napi_derive::napi;
use tokio_util::sync::CancellationToken;

use crate::error::{cancelled, to_napi};

/// Runs `f` inside the runtime's context (so it may spawn tasks).
pub(crate) fn enter<T>(f: impl FnOnce() -> T) -> T {
    napi::bindgen_prelude::within_runtime_if_available(f)
}

/// Cancels the native calls it is passed to. The JavaScript layer makes one per
/// `AbortSignal` and calls [`CancelToken::cancel`] when the signal aborts.
#[napi]
#[derive(Default)]
pub struct CancelToken {
    pub(crate) token: CancellationToken,
}

#[napi]
impl CancelToken {
    /// A token that is not cancelled yet.
    #[napi(constructor)]
    pub fn new() -> Self {
        CancelToken::default()
    }

    /// Cancels every call using this token: pending ones settle with an `AbortError`.
    #[napi]
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// True once [`CancelToken::cancel`] was called.
    #[napi(getter)]
    pub fn cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// Runs a core future unless `token` is cancelled first; maps its error.
pub(crate) async fn run<T>(
    token: &CancellationToken,
    fut: impl Future<Output = durastream::client::Result<T>>,
) -> napi::Result<T> {
    tokio::select! {
        biased;
        () = token.cancelled() => Err(cancelled()),
        r = fut => r.map_err(|e| to_napi(&e)),
    }
}
