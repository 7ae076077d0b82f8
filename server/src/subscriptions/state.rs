//! One subscription's state and its rules: stream links and cursors, wake generations,
//! leases, fencing (spec section 7.3) and the webhook retry schedule (7.1).
//!
//! Everything here is pure: time comes in as `now` (Unix milliseconds) and the streams'
//! current tails as [`Tails`], so the rules are unit-tested with a controlled clock. The
//! whole [`SubState`] is what `persist.rs` writes to disk.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::config::{Kind, SubConfig};
use super::error::SubError;
use super::token::Claims;

/// Webhook retry backoff: first delay, cap, and jitter fraction.
pub const RETRY_FIRST_MS: f64 = 1_000.0;
pub const RETRY_MAX_MS: f64 = 60_000.0;
pub const RETRY_JITTER: f64 = 0.2;

/// A linked stream's cursor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Linked because the pattern matches.
    pub glob: bool,
    /// Linked by `streams[]` or `POST …/streams`.
    pub explicit: bool,
    /// Last processed position, inclusive (the offset of everything before it).
    pub acked: u64,
    /// The stream incarnation (store id) the cursor belongs to; `None` while no stream
    /// exists at the path. A stream deleted and created again starts a new cursor.
    pub stream_id: Option<u64>,
}

impl Link {
    pub fn link_type(&self) -> &'static str {
        if self.explicit {
            "explicit"
        } else {
            "glob"
        }
    }
}

/// A stream's current facts, read from the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamNow {
    pub id: u64,
    /// Where the stream's own data begins (0, or a fork's branch point).
    pub base: u64,
    /// Durable tail.
    pub tail: u64,
}

/// Current facts of streams by stream-root-relative path; absent paths have no stream.
pub type Tails = HashMap<String, StreamNow>;

/// A stream's tail when a wake was issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snap {
    pub stream_id: u64,
    pub tail: u64,
}

/// The wake in flight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wake {
    pub wake_id: String,
    pub generation: u64,
    pub issued_ms: i64,
    /// Tails of the linked streams at issue time: what a webhook's `{ "done": true }` acks.
    pub snapshot: BTreeMap<String, Snap>,
    /// The pull-wake worker holding the lease.
    pub holder: Option<String>,
    /// The lease ends here (Unix ms): the wake is then abandoned and fenced.
    pub lease_until_ms: i64,
}

/// A scheduled webhook redelivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    /// Failed attempts in a row.
    pub attempts: u32,
    pub next_attempt_ms: i64,
}

/// Everything durable about one subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubState {
    pub id: String,
    pub config: SubConfig,
    pub hash: String,
    pub created_ms: i64,
    /// `scheme://host[:port]` that callback and JWKS URLs are built on.
    pub origin: String,
    pub links: BTreeMap<String, Link>,
    /// Fencing counter: increments with every wake.
    pub generation: u64,
    pub wake: Option<Wake>,
    pub retry: Option<Retry>,
}

/// The delay before retry `attempt` (1-based): 1 s doubling to 60 s, times `1 + 0.2 * jitter`
/// for `jitter` in `[-1, 1]`.
pub fn backoff_ms(attempt: u32, jitter: f64) -> i64 {
    let exp = attempt.saturating_sub(1).min(16) as i32;
    let base = (RETRY_FIRST_MS * 2f64.powi(exp)).min(RETRY_MAX_MS);
    (base * (1.0 + RETRY_JITTER * jitter.clamp(-1.0, 1.0))).round() as i64
}

impl SubState {
    pub fn new(id: String, config: SubConfig, origin: String, now: i64) -> SubState {
        let hash = config.hash();
        SubState {
            id,
            config,
            hash,
            created_ms: now,
            origin,
            links: BTreeMap::new(),
            generation: 0,
            wake: None,
            retry: None,
        }
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.config.lease_ttl_ms).unwrap_or(i64::MAX)
    }

    /// `active`, or `failed` while a webhook retry is scheduled.
    pub fn status(&self) -> &'static str {
        if self.retry.is_some() {
            "failed"
        } else {
            "active"
        }
    }

    /// Links `path` at its current tail (backfill, or a new explicit link). Returns true
    /// when a new link was made (false: an existing one only gained the link type).
    pub fn link_at_tail(&mut self, path: &str, now: Option<StreamNow>, explicit: bool) -> bool {
        if let Some(l) = self.links.get_mut(path) {
            if explicit {
                l.explicit = true;
            } else {
                l.glob = true;
            }
            return false;
        }
        let link = Link {
            glob: !explicit,
            explicit,
            acked: now.map_or(0, |n| n.tail),
            stream_id: now.map(|n| n.id),
        };
        self.links.insert(path.to_string(), link);
        true
    }

    /// A stream appeared at `path` (created after the subscription): a matching or linked
    /// path is linked at the stream's base, so its first bytes are pending. Returns whether
    /// anything changed.
    pub fn stream_created(&mut self, path: &str, now: StreamNow) -> bool {
        let globbed = self.config.globs(path);
        match self.links.get_mut(path) {
            Some(l) => {
                let fresh = l.stream_id != Some(now.id);
                if fresh {
                    l.stream_id = Some(now.id);
                    l.acked = now.base;
                }
                let gained = globbed && !l.glob;
                l.glob |= globbed;
                fresh || gained
            }
            None if globbed => {
                let link =
                    Link { glob: true, explicit: false, acked: now.base, stream_id: Some(now.id) };
                self.links.insert(path.to_string(), link);
                true
            }
            None => false,
        }
    }

    /// Removes the explicit link type; returns true when the link is gone entirely (a
    /// matching glob link stays).
    pub fn unlink_explicit(&mut self, path: &str) -> bool {
        match self.links.get_mut(path) {
            Some(l) if l.glob => {
                l.explicit = false;
                false
            }
            Some(_) => {
                self.links.remove(path);
                true
            }
            None => false,
        }
    }

    /// Brings every link in line with the store (`tails` must hold every linked path that
    /// has a stream): a cursor of a deleted stream is dropped (glob) or parked (explicit);
    /// a new incarnation restarts at its base. Returns the paths whose link was removed.
    pub fn reconcile(&mut self, tails: &Tails) -> (bool, Vec<String>) {
        let mut changed = false;
        let mut removed = Vec::new();
        for (path, l) in self.links.iter_mut() {
            match tails.get(path) {
                Some(now) if l.stream_id != Some(now.id) => {
                    l.stream_id = Some(now.id);
                    l.acked = now.base;
                    changed = true;
                }
                Some(_) => {}
                None if !l.explicit => removed.push(path.clone()),
                None if l.stream_id.is_some() => {
                    l.stream_id = None;
                    l.acked = 0;
                    changed = true;
                }
                None => {}
            }
        }
        for p in &removed {
            self.links.remove(p);
        }
        (changed || !removed.is_empty(), removed)
    }

    /// True when a linked stream has bytes past its cursor.
    pub fn pending(&self, tails: &Tails) -> bool {
        self.links.iter().any(|(p, l)| {
            tails.get(p).is_some_and(|n| l.stream_id == Some(n.id) && n.tail > l.acked)
        })
    }

    /// Starts a wake: the next generation, a snapshot of every linked stream's tail, and a
    /// lease from `now`.
    pub fn issue_wake(&mut self, tails: &Tails, now: i64, wake_id: String) -> &Wake {
        self.generation += 1;
        let snapshot = self
            .links
            .iter()
            .filter_map(|(p, l)| {
                let n = tails.get(p).filter(|n| l.stream_id == Some(n.id))?;
                Some((p.clone(), Snap { stream_id: n.id, tail: n.tail.max(l.acked) }))
            })
            .collect();
        let lease = self.lease_ms();
        self.wake.insert(Wake {
            wake_id,
            generation: self.generation,
            issued_ms: now,
            snapshot,
            holder: None,
            lease_until_ms: now.saturating_add(lease),
        })
    }

    /// Ends the wake if its lease ran out (clearing holder and token validity). Returns true
    /// when it did.
    pub fn expire_lease(&mut self, now: i64) -> bool {
        if self.wake.as_ref().is_some_and(|w| w.lease_until_ms <= now) {
            self.wake = None;
            return true;
        }
        false
    }

    /// Generation fencing (7.3): the token and the request must name the current generation
    /// and the current wake, and its lease must be live. The token's signature, subscription
    /// and expiry were checked before (`token.rs`).
    pub fn fence(
        &self,
        token: &Claims,
        generation: u64,
        wake_id: &str,
        now: i64,
    ) -> Result<(), SubError> {
        let w = self.wake.as_ref().ok_or(SubError::Fenced)?;
        let current = token.gen == self.generation
            && generation == self.generation
            && w.generation == self.generation
            && token.wake == w.wake_id
            && wake_id == w.wake_id
            && w.lease_until_ms > now;
        if current {
            Ok(())
        } else {
            Err(SubError::Fenced)
        }
    }

    /// Applies acks (all or none): each must name a linked, existing stream, not regress the
    /// cursor, and not pass the stream's tail.
    pub fn apply_acks(&mut self, acks: &[(String, u64)], tails: &Tails) -> Result<(), SubError> {
        for (path, at) in acks {
            let l = self.links.get(path).ok_or_else(|| {
                SubError::InvalidOffset(format!("{path:?} is not linked to this subscription"))
            })?;
            let n = tails.get(path).filter(|n| l.stream_id == Some(n.id)).ok_or_else(|| {
                SubError::InvalidOffset(format!("stream {path:?} no longer exists"))
            })?;
            if *at < l.acked {
                return Err(SubError::InvalidOffset(format!(
                    "ack for {path:?} regresses the committed cursor"
                )));
            }
            if *at > n.tail {
                return Err(SubError::InvalidOffset(format!(
                    "ack for {path:?} is beyond its tail"
                )));
            }
        }
        for (path, at) in acks {
            if let Some(l) = self.links.get_mut(path) {
                l.acked = l.acked.max(*at);
            }
        }
        Ok(())
    }

    /// Extends the lease of the current wake (valid callback, or ack without `done`).
    pub fn heartbeat(&mut self, now: i64) {
        let lease = self.lease_ms();
        if let Some(w) = &mut self.wake {
            w.lease_until_ms = now.saturating_add(lease);
        }
    }

    /// Acks the tails of the wake snapshot (webhook answered `{ "done": true }`).
    pub fn auto_ack(&mut self) {
        let Some(w) = &self.wake else { return };
        for (path, snap) in &w.snapshot {
            if let Some(l) = self.links.get_mut(path) {
                if l.stream_id == Some(snap.stream_id) {
                    l.acked = l.acked.max(snap.tail);
                }
            }
        }
    }

    /// Pull-wake claim: takes the wake in flight, or starts one when work is pending.
    pub fn claim(
        &mut self,
        worker: &str,
        tails: &Tails,
        now: i64,
        new_wake_id: String,
    ) -> Result<&Wake, SubError> {
        self.expire_lease(now);
        if let Some(h) = self.wake.as_ref().and_then(|w| w.holder.as_ref()) {
            return Err(SubError::AlreadyClaimed {
                holder: h.clone(),
                generation: self.generation,
            });
        }
        if self.wake.is_none() {
            if !self.pending(tails) {
                return Err(SubError::NoPendingWork);
            }
            self.issue_wake(tails, now, new_wake_id);
        }
        let lease = self.lease_ms();
        let w = self.wake.as_mut().ok_or(SubError::NoPendingWork)?;
        w.holder = Some(worker.to_string());
        w.lease_until_ms = now.saturating_add(lease);
        Ok(w)
    }

    /// A webhook delivery failed: the wake is abandoned (fenced) and a redelivery scheduled.
    pub fn delivery_failed(&mut self, now: i64, jitter: f64) {
        let attempts = self.retry.map_or(1, |r| r.attempts.saturating_add(1));
        let next_attempt_ms = now.saturating_add(backoff_ms(attempts, jitter));
        self.retry = Some(Retry { attempts, next_attempt_ms });
        self.wake = None;
    }

    /// Milliseconds until the next thing this subscription must do on its own: lease end or
    /// retry time (`None`: it waits for an append or a request).
    pub fn due(&self) -> Option<i64> {
        match (&self.wake, &self.retry) {
            (Some(w), _) => Some(w.lease_until_ms),
            (None, Some(r)) => Some(r.next_attempt_ms),
            (None, None) => None,
        }
    }

    /// True when it is time to start a wake: idle, no retry pending in the future, work pending.
    pub fn should_wake(&self, tails: &Tails, now: i64) -> bool {
        self.wake.is_none()
            && self.retry.is_none_or(|r| r.next_attempt_ms <= now)
            && self.pending(tails)
    }

    pub fn kind(&self) -> Kind {
        self.config.kind
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
