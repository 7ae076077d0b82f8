//! The binding's one tokio runtime, built lazily on first use.
//!
//! Why the binding owns it: the core client never builds a runtime, and the foreign side
//! polls our futures on its own threads (Kotlin coroutine dispatchers, Swift's cooperative
//! pool), where there is no tokio reactor or timer. So every operation is spawned onto
//! this runtime and the foreign executor only awaits the `JoinHandle`, which works from any
//! executor. The producer's background task also lives here, past the call that created
//! it. One multi-threaded runtime with two workers serves every client in the process;
//! it is never shut down (it lives as long as the loaded library).

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime, built on first use.
pub(crate) fn get() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("durastream")
            .enable_all()
            .build()
            .expect("cannot start the durastream tokio runtime (out of threads or memory)")
    })
}

/// Aborts the task when the awaiting foreign future is dropped (a cancelled coroutine or
/// Swift task), so no request keeps running for nobody.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `fut` on the runtime and waits for it from whatever executor polls the caller.
/// A panic in `fut` is resumed here, where uniffi's panic boundary reports it.
pub(crate) async fn run<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut task = AbortOnDrop(get().spawn(fut));
    match (&mut task.0).await {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("durastream task was cancelled: {e}"),
    }
}
