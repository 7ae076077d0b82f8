//! Worker decisions and webhook outcomes as functions over a [`SubState`], shared by the
//! in-process registry (`worker.rs`, `webhook.rs`) and the database-backed one
//! (`shared.rs`), so both apply the same rules.

use bytes::Bytes;

use super::config::Kind;
use super::state::{SubState, Tails, Wake};
use super::view;
use super::webhook::Outcome;
use crate::store::{now_ms, AppendRequest, Stream};

/// What one worker look decided.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// The state changed and must be written.
    pub changed: bool,
    /// A wake was issued: deliver it (webhook) or announce it (pull-wake event).
    pub wake: Option<(Kind, String)>,
}

/// One look at a subscription whose links were reconciled with `tails`: ends an expired
/// lease, issues a wake when work is pending (webhooks only when `webhooks` is on), drops a
/// retry with nothing left to redeliver. Nothing happens while a delivery is in flight.
pub fn step(
    st: &mut SubState,
    tails: &Tails,
    now: i64,
    delivering: bool,
    webhooks: bool,
    new_wake_id: impl FnOnce() -> String,
) -> Step {
    let mut out = Step::default();
    if delivering {
        return out;
    }
    out.changed |= st.expire_lease(now);
    let kind = st.kind();
    if st.should_wake(tails, now) && (kind == Kind::PullWake || webhooks) {
        let wake_id = st.issue_wake(tails, now, new_wake_id()).wake_id.clone();
        out.changed = true;
        out.wake = Some((kind, wake_id));
    } else if st.wake.is_none() && st.retry.is_some() && !st.pending(tails) {
        // Nothing left to redeliver (the streams went away).
        st.retry = None;
        out.changed = true;
    }
    out
}

/// Applies the outcome of delivering webhook wake `wake_id`: `done` acks the snapshot and
/// ends the wake; a failure of the current wake schedules a retry (`jitter` in `[-1, 1]`).
/// Returns whether the state changed.
pub fn delivered(
    st: &mut SubState,
    wake_id: &str,
    outcome: &Outcome,
    now: i64,
    jitter: f64,
) -> bool {
    let current = st.wake.as_ref().is_some_and(|w| w.wake_id == wake_id);
    match outcome {
        Outcome::Done => {
            st.retry = None;
            if current {
                st.auto_ack();
                st.wake = None;
            }
            true
        }
        Outcome::Accepted => {
            st.retry = None;
            true
        }
        Outcome::Failed(why) if current => {
            st.delivery_failed(now, jitter);
            let retry = st.retry.map(|r| (r.attempts, r.next_attempt_ms));
            tracing::warn!(subscription = %st.id, ?retry, "webhook delivery failed: {why}");
            true
        }
        // The wake already ended (its callback finished it): nothing to retry.
        Outcome::Failed(_) => false,
    }
}

/// The append of `wake`'s event to its wake stream, or why there is none (the wake stream
/// was re-created with another content type since the subscription was made).
pub fn wake_append(
    st: &SubState,
    wake: &Wake,
    stream: &Stream,
) -> Result<AppendRequest, &'static str> {
    if !stream.is_json() {
        return Err("the wake stream is not a JSON stream");
    }
    let body = serde_json::to_vec(&view::wake_event(st, wake, now_ms()))
        .expect("a wake event always serializes");
    Ok(AppendRequest {
        content_type: Some(stream.meta.content_type.clone()),
        body: Bytes::from(body),
        ..AppendRequest::default()
    })
}
