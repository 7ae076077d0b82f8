//! Pull-wake delivery (spec section 7.2): wake events in the wake stream, claim, ack (also
//! the heartbeat), release; and the ack path shared with webhook callbacks (7.1).

use std::sync::Arc;

use durastream::Offset;
use serde::Deserialize;

use super::config::{stream_path, Kind};
use super::error::SubError;
use super::state::{SubState, Wake};
use super::token::{bearer, Claims, Use, TOKEN_TTL_MS};
use super::{new_wake_id, ops, view, Entry, Subscriptions};
use crate::store::now_ms;

/// Body of `…/callback`, `…/ack` and `…/release`.
#[derive(Deserialize)]
struct AckBody {
    wake_id: Option<String>,
    generation: Option<u64>,
    #[serde(default)]
    acks: Vec<AckItem>,
    #[serde(default)]
    done: bool,
}

#[derive(Deserialize)]
struct AckItem {
    stream: Option<String>,
    path: Option<String>,
    offset: String,
}

/// A parsed ack request.
pub(super) struct Ack {
    pub wake_id: String,
    pub generation: u64,
    pub acks: Vec<(String, u64)>,
    pub done: bool,
}

/// The worker name of a `…/claim` body (1 to 256 bytes).
pub(super) fn parse_worker(body: &[u8]) -> Result<String, SubError> {
    #[derive(Deserialize)]
    struct Body {
        worker: Option<String>,
    }
    let b: Body = serde_json::from_slice(body)
        .map_err(|e| SubError::invalid(format!("body must be {{\"worker\": ...}}: {e}")))?;
    b.worker
        .filter(|w| !w.is_empty() && w.len() <= 256)
        .ok_or_else(|| SubError::invalid("worker (1 to 256 bytes) is required"))
}

pub(super) fn parse_ack(body: &[u8]) -> Result<Ack, SubError> {
    let b: AckBody = serde_json::from_slice(body)
        .map_err(|e| SubError::invalid(format!("body must be a JSON object: {e}")))?;
    let wake_id = b.wake_id.ok_or_else(|| SubError::invalid("wake_id is required"))?;
    let generation = b.generation.ok_or_else(|| SubError::invalid("generation is required"))?;
    let mut acks = Vec::with_capacity(b.acks.len());
    for a in b.acks {
        let path = a.stream.or(a.path).ok_or_else(|| SubError::invalid("each ack needs stream"))?;
        let at = a.offset.parse::<Offset>().map_err(|e| SubError::invalid(e.to_string()))?;
        acks.push((stream_path(&path)?, at.position()));
    }
    Ok(Ack { wake_id, generation, acks, done: b.done })
}

impl Subscriptions {
    fn entry_of_kind(&self, id: &str, kind: Kind) -> Result<Arc<Entry>, SubError> {
        let e = self.lookup(id)?;
        if e.slot.lock().state.kind() != kind {
            return Err(SubError::invalid(format!("subscription is not {}", kind.as_str())));
        }
        Ok(e)
    }

    /// Callback (webhook) and ack (pull-wake): token, fencing, acks, then heartbeat or done.
    /// Returns `next_wake`: whether work remains and another wake follows.
    pub(super) async fn ack_flow(
        &self,
        id: &str,
        headers: &http::HeaderMap,
        body: &[u8],
        kind: Kind,
        usage: Use,
    ) -> Result<bool, SubError> {
        let token = bearer(headers)?;
        let entry = self.entry_of_kind(id, kind)?;
        let claims = self.tokens.verify(token, id, usage, now_ms())?;
        let req = parse_ack(body)?;
        self.check_writable()?;
        let tails = self.tails(&Self::link_paths(&entry));
        let next_wake = {
            let mut slot = entry.slot.lock();
            if slot.deleted {
                return Err(SubError::NotFound);
            }
            let now = now_ms();
            slot.state.fence(&claims, req.generation, &req.wake_id, now)?;
            slot.state.apply_acks(&req.acks, &tails)?;
            let next = if req.done {
                slot.state.wake = None;
                slot.state.pending(&tails)
            } else {
                slot.state.heartbeat(now);
                false
            };
            slot.touch();
            next
        };
        self.save(&entry).await?;
        if req.done {
            self.kick(id);
        }
        Ok(next_wake)
    }

    /// `POST …/claim`: takes the subscription's lease for `worker`.
    pub async fn claim(&self, id: &str, body: &[u8]) -> Result<serde_json::Value, SubError> {
        let worker = parse_worker(body)?;
        let entry = self.entry_of_kind(id, Kind::PullWake)?;
        self.check_writable()?;
        let tails = self.tails(&Self::link_paths(&entry));
        let answer = {
            let mut slot = entry.slot.lock();
            if slot.deleted {
                return Err(SubError::NotFound);
            }
            let now = now_ms();
            let wake = slot.state.claim(&worker, &tails, now, new_wake_id())?.clone();
            slot.touch();
            let token = self.tokens.issue(&Claims {
                sub: id.to_string(),
                gen: wake.generation,
                wake: wake.wake_id.clone(),
                usage: Use::Claim,
                exp: now.saturating_add(TOKEN_TTL_MS),
            });
            view::claim(&slot.state, &wake, &token)
        };
        self.save(&entry).await?;
        Ok(answer)
    }

    /// `POST …/ack`.
    pub async fn ack(
        &self,
        id: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<bool, SubError> {
        self.ack_flow(id, headers, body, Kind::PullWake, Use::Claim).await
    }

    /// `POST …/release`: gives the lease back without acking; pending work wakes again.
    pub async fn release(
        &self,
        id: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<(), SubError> {
        let token = bearer(headers)?;
        let entry = self.entry_of_kind(id, Kind::PullWake)?;
        let claims = self.tokens.verify(token, id, Use::Claim, now_ms())?;
        let req = parse_ack(body)?;
        self.check_writable()?;
        {
            let mut slot = entry.slot.lock();
            if slot.deleted {
                return Err(SubError::NotFound);
            }
            slot.state.fence(&claims, req.generation, &req.wake_id, now_ms())?;
            slot.state.wake = None;
            slot.touch();
        }
        self.save(&entry).await?;
        self.kick(id);
        Ok(())
    }

    /// Appends the wake event of `wake` to the subscription's wake stream (after the wake's
    /// generation was written). A missing wake stream is logged; the wake then lapses with
    /// its lease and is issued again.
    pub(super) async fn write_wake_event(&self, st: &SubState, wake: &Wake) {
        let Some(rel) = st.config.wake_stream.as_deref() else { return };
        let stream = match self.store.get(&self.key_of(rel)) {
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
        if let Err(e) = self.store.append(&stream, req).await {
            tracing::warn!(subscription = %st.id, wake_stream = rel, "cannot write wake event: {e}");
        }
    }
}
