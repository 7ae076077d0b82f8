//! Webhook delivery (spec section 7.1): the signed `POST`, its outcome (`{ "done": true }`
//! auto-acks the wake snapshot; a failure schedules a retry with backoff), and the
//! callback endpoint.
//!
//! Outgoing requests use a dedicated client: no proxies from the environment, no redirects
//! (a redirect could point inside the network), a resolver that refuses internal addresses
//! (`ssrf.rs`), and a per-request timeout of the lease clamped to 5–30 s.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::config::Kind;
use super::error::SubError;
use super::ssrf::{GuardedResolver, Policy};
use super::token::{Claims, Use, TOKEN_TTL_MS};
use super::{Entry, Subscriptions};
use crate::store::now_ms;

/// Largest webhook response body read (only `done` matters).
const MAX_RESPONSE: usize = 64 * 1024;

/// What a delivery attempt achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx with `{ "done": true }`: ack the snapshot and release.
    Done,
    /// 2xx otherwise: the receiver calls back.
    Accepted,
    /// Network error, timeout, non-2xx, or a URL no longer allowed.
    Failed(String),
}

impl Outcome {
    /// The metrics label of this outcome.
    fn label(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Accepted => "accepted",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// The outgoing HTTP client.
pub struct Http {
    client: reqwest::Client,
    policy: Policy,
}

impl Http {
    pub fn new(policy: Policy) -> io::Result<Http> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { policy }))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("durastream/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(io::Error::other)?;
        Ok(Http { client, policy })
    }

    /// Sends one signed webhook request.
    async fn post(
        &self,
        url: &str,
        signature: String,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Outcome {
        // The flags may have changed since the subscription was created.
        if let Err(e) = self.policy.check(url) {
            return Outcome::Failed(e.to_string());
        }
        let sent = self
            .client
            .post(url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(error_chain(&e)),
        };
        if !resp.status().is_success() {
            return Outcome::Failed(format!("receiver answered {}", resp.status()));
        }
        let mut buf = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) if buf.len() + c.len() <= MAX_RESPONSE => buf.extend_from_slice(&c),
                Ok(Some(_)) | Ok(None) | Err(_) => break,
            }
        }
        let done = serde_json::from_slice::<serde_json::Value>(&buf)
            .ok()
            .and_then(|v| v.get("done").and_then(|d| d.as_bool()))
            .unwrap_or(false);
        if done {
            Outcome::Done
        } else {
            Outcome::Accepted
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

impl Subscriptions {
    /// `callback_url` of a subscription's wakes.
    fn callback_url(&self, origin: &str, id: &str) -> String {
        let origin = self.public_url.as_deref().unwrap_or(origin);
        format!("{origin}{}/__ds/subscriptions/{id}/callback", self.prefix)
    }

    /// Delivers the wake `wake_id` of `entry` (issued and written by the worker) and applies
    /// the outcome.
    pub(super) async fn deliver(self: Arc<Self>, entry: Arc<Entry>, wake_id: String) {
        let prepared = {
            let slot = entry.slot.lock();
            let st = &slot.state;
            match (&st.wake, &st.config.webhook_url) {
                (Some(w), Some(url)) if w.wake_id == wake_id && !slot.deleted => {
                    let retry = st.retry.is_some();
                    let token = self.tokens.issue(&Claims {
                        sub: st.id.clone(),
                        gen: w.generation,
                        wake: w.wake_id.clone(),
                        usage: Use::Callback,
                        exp: now_ms().saturating_add(TOKEN_TTL_MS),
                    });
                    let cb = self.callback_url(&st.origin, &st.id);
                    let body = super::view::webhook_body(st, w, &cb, &token);
                    let lease = Duration::from_millis(st.config.lease_ttl_ms);
                    Some((
                        url.clone(),
                        body,
                        lease.clamp(Duration::from_secs(5), Duration::from_secs(30)),
                        retry,
                    ))
                }
                _ => None,
            }
        };
        let outcome = match prepared {
            Some((url, body, timeout, retry)) => {
                let signature = self.signer.header(now_ms() / 1000, &body);
                let outcome = self.http.post(&url, signature, body, timeout).await;
                crate::metrics::webhook_attempt(outcome.label(), retry);
                outcome
            }
            None => Outcome::Failed("the wake ended before delivery".into()),
        };
        {
            let mut slot = entry.slot.lock();
            if slot.delivering.as_deref() == Some(wake_id.as_str()) {
                slot.delivering = None;
            }
            if slot.deleted {
                return;
            }
            let current = slot.state.wake.as_ref().is_some_and(|w| w.wake_id == wake_id);
            match outcome {
                Outcome::Done => {
                    slot.state.retry = None;
                    if current {
                        slot.state.auto_ack();
                        slot.state.wake = None;
                    }
                    slot.touch();
                }
                Outcome::Accepted => {
                    slot.state.retry = None;
                    slot.touch();
                }
                Outcome::Failed(why) if current => {
                    let jitter = rand::random::<f64>() * 2.0 - 1.0;
                    slot.state.delivery_failed(now_ms(), jitter);
                    slot.touch();
                    let retry = slot.state.retry.map(|r| (r.attempts, r.next_attempt_ms));
                    tracing::warn!(subscription = %entry.id, ?retry, "webhook delivery failed: {why}");
                }
                // The wake already ended (its callback finished it): nothing to retry.
                Outcome::Failed(_) => {}
            }
        }
        if let Err(e) = self.save(&entry).await {
            tracing::error!(subscription = %entry.id, "cannot record the webhook outcome: {e}");
        }
        self.kick(&entry.id);
    }

    /// `POST …/callback`: acks and heartbeat or done for a webhook wake.
    pub async fn callback(
        &self,
        id: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<bool, SubError> {
        self.ack_flow(id, headers, body, Kind::Webhook, Use::Callback).await
    }
}
