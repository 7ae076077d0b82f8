//! The delivery worker of subscriptions kept in the database (`shared.rs`).
//!
//! Node leases: each subscription row names the node that runs its deliveries (`owner`)
//! and until when (`owner_until`). Every node renews its leases a few times per lease
//! period and takes those that are free or expired, with one
//! `UPDATE … WHERE owner = me OR owner IS NULL OR owner_until <= now RETURNING id`;
//! a node creating a subscription takes its lease at once. So one node at a time issues a
//! subscription's wakes, and a dead node's subscriptions pass to another node once its
//! leases expire (`--subscription-lease-ms`). Each worker step runs in the transaction
//! holding the row and re-checks the lease there.
//!
//! The wake itself is fenced like on one node: its generation is written before the webhook
//! is sent or the wake event appended, and a webhook outcome is recorded only if its wake is
//! still current. A node that dies mid-delivery leaves the wake to lapse with its own lease
//! (`lease_ttl_ms`); the next owner then issues a new wake.
//!
//! The worker looks at its subscriptions when any node changed a stream (LISTEN/NOTIFY,
//! through the stream store), after requests on this node, and at least once a second.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::config::Kind;
use super::error::SubError;
use super::shared::Shared;
use super::state::SubState;
use super::{new_wake_id, ops, webhook};
use crate::store::now_ms;

/// Longest pause between looks.
const MAX_IDLE: Duration = Duration::from_secs(1);

impl Shared {
    /// Starts the background task; abort the handle to stop it.
    pub fn spawn_worker(self: &Arc<Self>) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move { me.run().await })
    }

    async fn run(self: Arc<Self>) {
        let mut next_look = Instant::now();
        let mut next_renew = Instant::now();
        loop {
            tokio::select! {
                _ = self.notify.notified() => {}
                _ = self.pg.changed() => {}
                _ = tokio::time::sleep_until(next_look.min(next_renew)) => {}
            }
            let started = Instant::now();
            if started >= next_renew {
                self.renew().await;
                next_renew = started + self.lease / 3;
            }
            let ids: Vec<String> = self.owned.lock().iter().cloned().collect();
            let mut earliest: Option<i64> = None;
            for id in ids {
                match self.step(&id).await {
                    Ok(Some(due)) => earliest = Some(earliest.map_or(due, |x| x.min(due))),
                    Ok(None) => {}
                    Err(SubError::NotFound) => {
                        self.owned.lock().remove(&id);
                    }
                    Err(e) => tracing::warn!(subscription = %id, "subscription step failed: {e}"),
                }
            }
            let wait = earliest.map_or(MAX_IDLE, |due| {
                let ms = u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0);
                Duration::from_millis(ms).clamp(Duration::from_millis(5), MAX_IDLE)
            });
            next_look = started + wait;
        }
    }

    /// Renews this node's leases and takes free or expired ones.
    async fn renew(&self) {
        let now = now_ms();
        let until = now.saturating_add(self.lease_ms());
        let res = async {
            let client = self.pg.pool().get().await.map_err(|e| e.to_string())?;
            client
                .query(
                    "UPDATE subscriptions SET owner = $1, owner_until = $2 \
                     WHERE owner = $1 OR owner IS NULL OR owner_until <= $3 RETURNING id",
                    &[&self.node, &until, &now],
                )
                .await
                .map_err(|e| e.to_string())
        };
        match res.await {
            Ok(rows) => {
                let ids: std::collections::HashSet<String> =
                    rows.iter().map(|r| r.get(0)).collect();
                let mut owned = self.owned.lock();
                for id in ids.difference(&owned) {
                    tracing::info!(subscription = %id, node = %self.node, "took the subscription lease");
                }
                *owned = ids;
            }
            Err(e) => tracing::warn!("renewing subscription leases failed: {e}"),
        }
    }

    /// Gives this node's leases up at shutdown, so another node takes them at once.
    pub async fn release_leases(&self) {
        let res = async {
            let client = self.pg.pool().get().await.map_err(|e| e.to_string())?;
            client
                .execute("UPDATE subscriptions SET owner_until = 0 WHERE owner = $1", &[&self.node])
                .await
                .map_err(|e| e.to_string())
        };
        if let Err(e) = res.await {
            tracing::warn!("releasing subscription leases failed: {e}");
        }
    }

    /// One look at a subscription this node holds; returns when it next needs a look.
    async fn step(self: &Arc<Self>, id: &str) -> Result<Option<i64>, SubError> {
        let mut issued = None;
        let res = self
            .with_sub(id, &[], |st, tails, lease| {
                let now = now_ms();
                if lease.owner.as_deref() != Some(self.node.as_str()) || lease.until <= now {
                    return Ok(None);
                }
                let delivering = self.delivering.lock().contains_key(id);
                let step = ops::step(st, tails, now, delivering, self.webhooks, new_wake_id);
                if let Some((Kind::Webhook, wake_id)) = &step.wake {
                    self.delivering.lock().insert(id.to_string(), wake_id.clone());
                }
                issued = step.wake.clone();
                let busy = delivering || matches!(step.wake, Some((Kind::Webhook, _)));
                Ok(Some((if busy { None } else { st.due() }, st.clone())))
            })
            .await;
        let (due, st) = match res {
            Ok(Some(v)) => v,
            Ok(None) => {
                // The lease passed to another node.
                self.owned.lock().remove(id);
                return Ok(None);
            }
            Err(e) => {
                if let Some((Kind::Webhook, wake_id)) = &issued {
                    self.done_delivering(id, wake_id);
                }
                return Err(e);
            }
        };
        match issued {
            Some((Kind::Webhook, wake_id)) => {
                let me = self.clone();
                tokio::spawn(async move { me.deliver(st, wake_id).await });
            }
            Some((Kind::PullWake, _)) => {
                let me = self.clone();
                tokio::spawn(async move { me.write_wake_event(&st).await });
            }
            None => {}
        }
        Ok(due)
    }

    fn done_delivering(&self, id: &str, wake_id: &str) {
        let mut d = self.delivering.lock();
        if d.get(id).is_some_and(|w| w == wake_id) {
            d.remove(id);
        }
    }

    /// Sends the webhook of wake `wake_id` (written as issued) and records the outcome.
    async fn deliver(self: Arc<Self>, st: SubState, wake_id: String) {
        let prepared = webhook::prepare(&self.tokens, &self.callback_url(&st), &st, &wake_id);
        let outcome = webhook::send(&self.http, &self.signer, prepared).await;
        let jitter = rand::random::<f64>() * 2.0 - 1.0;
        let res = self
            .with_sub(&st.id, &[], |cur, _, _| {
                ops::delivered(cur, &wake_id, &outcome, now_ms(), jitter);
                Ok(())
            })
            .await;
        match res {
            Ok(()) | Err(SubError::NotFound) => {}
            Err(e) => {
                tracing::error!(subscription = %st.id, "cannot record the webhook outcome: {e}")
            }
        }
        self.done_delivering(&st.id, &wake_id);
        self.notify.notify_one();
    }

    /// Appends the wake event of the current wake to the wake stream (after its generation
    /// was written). A missing or non-JSON wake stream is logged; the wake then lapses with
    /// its lease and is issued again.
    async fn write_wake_event(&self, st: &SubState) {
        let (Some(rel), Some(wake)) = (st.config.wake_stream.as_deref(), &st.wake) else {
            return;
        };
        let stream = match self.pg.get_for_append(&self.key_of(rel)).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(subscription = %st.id, wake_stream = rel, "cannot write wake event: {e}");
                return;
            }
        };
        let req = match ops::wake_append(st, wake, &stream) {
            Ok(req) => req,
            Err(why) => {
                tracing::warn!(subscription = %st.id, wake_stream = rel, "cannot write wake event: {why}");
                return;
            }
        };
        if let Err(e) = self.pg.append(&stream, req).await {
            tracing::warn!(subscription = %st.id, wake_stream = rel, "cannot write wake event: {e}");
        }
    }
}
