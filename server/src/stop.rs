//! The server's stop signal as each connection waits for it.
//!
//! A connection task waits on its hyper connection and on this signal together, and such a
//! `select!` polls both whenever the task wakes: a request wakes it two or three times. A
//! `watch` wait locks its waiter list on every poll; [`Stopped`] costs one atomic load and
//! a waker comparison, and takes the lock only when it first registers (or its waker
//! changes) and when it ends.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

/// Turns on once, when the server stops; every [`Stopped`] future then resolves.
#[derive(Default)]
pub struct StopSignal {
    on: AtomicBool,
    next_key: AtomicU64,
    waiting: Mutex<HashMap<u64, Waker>>,
}

impl StopSignal {
    /// Turns the signal on and wakes every waiter.
    pub fn trigger(&self) {
        self.on.store(true, Ordering::Release);
        let wakers: Vec<Waker> = self.waiting.lock().drain().map(|(_, w)| w).collect();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Resolves once the signal is on.
    pub fn stopped(&self) -> Stopped<'_> {
        Stopped { signal: self, key: None, waker: None }
    }
}

/// Waits for a [`StopSignal`].
pub struct Stopped<'a> {
    signal: &'a StopSignal,
    key: Option<u64>,
    /// The waker registered under `key`.
    waker: Option<Waker>,
}

impl Future for Stopped<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.on.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        let signal = self.signal;
        let key = *self.key.get_or_insert_with(|| signal.next_key.fetch_add(1, Ordering::Relaxed));
        let mut waiting = signal.waiting.lock();
        // Checked again under the lock `trigger` drains the waiters with.
        if signal.on.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        waiting.insert(key, cx.waker().clone());
        drop(waiting);
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.signal.waiting.lock().remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn waiters_resolve_when_triggered_and_not_before() {
        let signal = Arc::new(StopSignal::default());
        let s = signal.clone();
        let waiter = tokio::spawn(async move { s.stopped().await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        signal.trigger();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken by trigger")
            .expect("task ran");
        // A waiter that starts after the trigger resolves at once.
        signal.stopped().await;
        assert!(signal.waiting.lock().is_empty());
    }

    #[tokio::test]
    async fn a_dropped_waiter_leaves_nothing_behind() {
        let signal = StopSignal::default();
        {
            let mut w = std::pin::pin!(signal.stopped());
            let waker = futures_util::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            assert!(w.as_mut().poll(&mut cx).is_pending());
            assert_eq!(signal.waiting.lock().len(), 1);
        }
        assert!(signal.waiting.lock().is_empty());
    }
}
