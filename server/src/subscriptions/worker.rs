//! The background task: issues wakes when linked streams have pending work, expires leases,
//! honors retry schedules, and writes state the hooks changed lazily.
//!
//! Store hooks and request handlers mark subscriptions dirty and notify the task; it looks
//! at dirty ones at once, and at all of them when the earliest lease end or retry time
//! arrives (at least once a second). A wake's generation is written before its webhook is
//! sent or its wake event appended, so a crash never leaves a delivered wake unrecorded.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::config::Kind;
use super::{new_wake_id, ops, Entry, Subscriptions};
use crate::store::now_ms;

/// Longest pause between full passes.
const MAX_IDLE: Duration = Duration::from_secs(1);

/// What to do after a step's new state is written.
enum Action {
    Webhook(String),
    WakeEvent,
}

impl Subscriptions {
    /// Starts the background task; abort the handle to stop it.
    pub fn spawn_worker(self: &Arc<Self>) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move { me.run().await })
    }

    async fn run(self: Arc<Self>) {
        let mut next_full = Instant::now();
        loop {
            tokio::select! {
                _ = self.notify.notified() => {}
                _ = tokio::time::sleep_until(next_full) => {}
            }
            let started = Instant::now();
            let full = started >= next_full;
            let dirty: Vec<String> = self.dirty.lock().drain().collect();
            let targets: Vec<Arc<Entry>> = if full {
                self.entries()
            } else {
                let registry = self.registry.read();
                dirty.iter().filter_map(|id| registry.get(id).cloned()).collect()
            };
            let mut earliest: Option<i64> = None;
            for e in targets {
                if let Some(due) = self.step(&e) {
                    earliest = Some(earliest.map_or(due, |x| x.min(due)));
                }
            }
            let wait = earliest.map_or(MAX_IDLE, |due| {
                let ms = u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0);
                Duration::from_millis(ms).clamp(Duration::from_millis(5), MAX_IDLE)
            });
            next_full = if full { started + wait } else { next_full.min(started + wait) };
        }
    }

    /// One look at a subscription; returns when it next needs a look on its own.
    fn step(self: &Arc<Self>, entry: &Arc<Entry>) -> Option<i64> {
        let tails = self.tails(&Self::link_paths(entry));
        let now = now_ms();
        let (action, due, write) = {
            let mut slot = entry.slot.lock();
            if slot.deleted {
                return None;
            }
            let (changed, removed) = slot.state.reconcile(&tails);
            if changed {
                slot.touch();
                self.index_remove(&entry.id, removed);
            }
            let delivering = slot.delivering.is_some();
            let step =
                ops::step(&mut slot.state, &tails, now, delivering, self.webhooks, new_wake_id);
            if step.changed {
                slot.touch();
            }
            let action = step.wake.map(|(kind, wake_id)| match kind {
                Kind::Webhook => {
                    slot.delivering = Some(wake_id.clone());
                    Action::Webhook(wake_id)
                }
                Kind::PullWake => Action::WakeEvent,
            });
            let due = if slot.delivering.is_some() { None } else { slot.state.due() };
            let write = self.persist.is_durable()
                && slot.version > entry.written.load(std::sync::atomic::Ordering::SeqCst);
            (action, due, write)
        };
        if write || action.is_some() {
            let me = self.clone();
            let entry = entry.clone();
            tokio::spawn(async move {
                if let Err(e) = me.save(&entry).await {
                    tracing::error!(subscription = %entry.id, "cannot write subscription state: {e}");
                    entry.slot.lock().delivering = None;
                    return;
                }
                match action {
                    Some(Action::Webhook(wake_id)) => me.deliver(entry, wake_id).await,
                    Some(Action::WakeEvent) => {
                        let snapshot = {
                            let slot = entry.slot.lock();
                            slot.state.wake.clone().map(|w| (slot.state.clone(), w))
                        };
                        if let Some((st, wake)) = snapshot {
                            me.write_wake_event(&st, &wake).await;
                        }
                    }
                    None => {}
                }
            });
        }
        due
    }
}
