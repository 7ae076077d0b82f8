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
use super::signing::Signer;
use super::ssrf::{GuardedResolver, Policy};
use super::state::SubState;
use super::token::Tokens;
use super::token::{Claims, Use, TOKEN_TTL_MS};
use super::{ops, Entry, Subscriptions};
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

/// A webhook request ready to send.
pub(super) struct Prepared {
    url: String,
    body: Vec<u8>,
    timeout: Duration,
    /// A redelivery after a failure (for the metrics).
    retry: bool,
}

/// `callback_url` of subscription `id`'s wakes: on `--public-url` when set, else on the
/// origin the subscription was created through.
pub(super) fn callback_url(
    public_url: Option<&str>,
    prefix: &str,
    origin: &str,
    id: &str,
) -> String {
    let origin = public_url.unwrap_or(origin);
    format!("{origin}{prefix}/__ds/subscriptions/{id}/callback")
}

/// The request delivering wake `wake_id` of `st`, with a fresh callback token; `None` when
/// that wake is no longer current.
pub(super) fn prepare(
    tokens: &Tokens,
    callback: &str,
    st: &SubState,
    wake_id: &str,
) -> Option<Prepared> {
    match (&st.wake, &st.config.webhook_url) {
        (Some(w), Some(url)) if w.wake_id == wake_id => {
            let token = tokens.issue(&Claims {
                sub: st.id.clone(),
                gen: w.generation,
                wake: w.wake_id.clone(),
                usage: Use::Callback,
                exp: now_ms().saturating_add(TOKEN_TTL_MS),
            });
            let body = super::view::webhook_body(st, w, callback, &token);
            let lease = Duration::from_millis(st.config.lease_ttl_ms);
            Some(Prepared {
                url: url.clone(),
                body,
                timeout: lease.clamp(Duration::from_secs(5), Duration::from_secs(30)),
                retry: st.retry.is_some(),
            })
        }
        _ => None,
    }
}

/// Signs and sends a prepared request (`None`: the wake ended before delivery).
pub(super) async fn send(http: &Http, signer: &Signer, prepared: Option<Prepared>) -> Outcome {
    match prepared {
        Some(p) => {
            let signature = signer.header(now_ms() / 1000, &p.body);
            let outcome = http.post(&p.url, signature, p.body, p.timeout).await;
            crate::metrics::webhook_attempt(outcome.label(), p.retry);
            outcome
        }
        None => Outcome::Failed("the wake ended before delivery".into()),
    }
}

impl Subscriptions {
    /// Delivers the wake `wake_id` of `entry` (issued and written by the worker) and applies
    /// the outcome.
    pub(super) async fn deliver(self: Arc<Self>, entry: Arc<Entry>, wake_id: String) {
        let prepared = {
            let slot = entry.slot.lock();
            let st = &slot.state;
            let cb = callback_url(self.public_url.as_deref(), &self.prefix, &st.origin, &st.id);
            prepare(&self.tokens, &cb, st, &wake_id).filter(|_| !slot.deleted)
        };
        let outcome = send(&self.http, &self.signer, prepared).await;
        {
            let mut slot = entry.slot.lock();
            if slot.delivering.as_deref() == Some(wake_id.as_str()) {
                slot.delivering = None;
            }
            if slot.deleted {
                return;
            }
            let jitter = rand::random::<f64>() * 2.0 - 1.0;
            if ops::delivered(&mut slot.state, &wake_id, &outcome, now_ms(), jitter) {
                slot.touch();
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
