//! The library's one tokio runtime.
//!
//! C callers have no async runtime, and the core never builds one, so this crate owns it.
//! It is a multi-thread runtime (two workers) because work must go on between C calls:
//! the producer's background task sends batches while the caller is busy elsewhere, and the
//! in-process server answers requests while the caller's thread is blocked in a read.
//! Blocking calls run the future on the caller's thread with `block_on`.
//!
//! The runtime is built lazily, on the first call that needs it, and is never dropped: it
//! lives until the process exits, so handles stay usable from any thread at any time. Its
//! worker threads and their allocations are therefore one-time allocations that are still
//! reachable at exit (see `tests/valgrind.supp`). It is not fork-safe: a child process must
//! not use handles created before `fork()`.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

use crate::error::FfiError;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The runtime, built on first use. A build failure is permanent and reported every time.
pub(crate) fn runtime() -> Result<&'static Runtime, FfiError> {
    let rt = RUNTIME.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("durastream-c")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the durastream runtime: {e}"))
    });
    rt.as_ref().map_err(|e| FfiError::Io(std::io::Error::other(e.clone())))
}

/// Runs `fut` to completion on the calling thread.
///
/// Refuses (rather than panics) when called from inside the runtime, which would deadlock
/// a worker: callbacks of this library are invoked outside it, so this only happens when a
/// C program calls back into the library from a thread the library owns.
pub(crate) fn block_on<F: Future>(fut: F) -> Result<F::Output, FfiError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(FfiError::Argument(
            "blocking durastream calls cannot be made from inside the library's runtime"
                .to_string(),
        ));
    }
    Ok(runtime()?.block_on(fut))
}
