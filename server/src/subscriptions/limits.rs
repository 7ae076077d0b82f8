//! The registry's bounds: per-id write locks that vanish with their id (so requests naming
//! unknown subscriptions leave nothing behind), and the cap on links per subscription.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::error::SubError;
use super::state::SubState;
use super::Subscriptions;
use crate::store::now_ms;

/// A subscription id's disk-write lock. Dropping it forgets the lock when nobody else holds
/// it and the id names no subscription, so requests for unknown ids leave nothing behind.
pub(super) struct IoLock<'a> {
    subs: &'a Subscriptions,
    id: String,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl std::ops::Deref for IoLock<'_> {
    type Target = tokio::sync::Mutex<()>;

    fn deref(&self) -> &Self::Target {
        &self.lock
    }
}

impl Drop for IoLock<'_> {
    fn drop(&mut self) {
        if self.subs.registry.read().contains_key(&self.id) {
            return;
        }
        let mut locks = self.subs.io_locks.lock();
        // Two holders: the map and this guard.
        if locks
            .get(&self.id)
            .is_some_and(|l| Arc::ptr_eq(l, &self.lock) && Arc::strong_count(l) == 2)
        {
            locks.remove(&self.id);
        }
    }
}

impl Subscriptions {
    pub(super) fn io_lock(&self, id: &str) -> IoLock<'_> {
        let lock = self.io_locks.lock().entry(id.to_string()).or_default().clone();
        IoLock { subs: self, id: id.to_string(), lock }
    }

    /// Number of per-id write locks held in memory (for tests of the unknown-id leak).
    #[cfg(test)]
    pub(super) fn io_lock_count(&self) -> usize {
        self.io_locks.lock().len()
    }

    pub(super) fn too_many_links(&self) -> SubError {
        SubError::LimitExceeded {
            what: "too many streams linked to one subscription",
            limit: self.max_links,
            flag: "max-subscription-links",
        }
    }

    /// Whether `st` may gain a link to `rel` under the link cap.
    pub(super) fn link_allowed(&self, st: &SubState, rel: &str) -> bool {
        st.links.len() < self.max_links || st.links.contains_key(rel)
    }

    /// Logs a skipped pattern link, at most once a minute.
    pub(super) fn warn_link_skipped(&self, id: &str, rel: &str) {
        let now = u64::try_from(now_ms()).unwrap_or(0);
        let last = self.last_link_warning.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 60_000
            && self
                .last_link_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                subscription = id,
                stream = rel,
                limit = self.max_links,
                "pattern match not linked: the subscription has --max-subscription-links links \
                 (further skips are logged once a minute)"
            );
        }
    }
}
