//! Subscriptions kept in a shared PostgreSQL database, so every node answers every
//! subscription route (`serve --store postgres://…`).
//!
//! Each subscription is one row of `subscriptions`: its whole [`SubState`] as JSON, and the
//! node lease (`owner`, `owner_until`). Every request runs in one transaction holding the
//! row (`SELECT … FOR UPDATE`): it reads the facts of the linked and matching streams,
//! brings the links in line with them (the rule `Subscriptions::open` applies at start-up:
//! a matching stream not linked yet, created after the subscription, is linked at its
//! base), applies the same rules as the in-process registry (`state.rs`, `ops.rs`), and
//! writes the state back when it changed. So the stream hooks of the local engine are not
//! needed: any node's change is seen by the next request or worker look.
//!
//! Deliveries: only the node holding a subscription's lease runs its worker step (issue a
//! wake, send the webhook or append the wake event, record the outcome); see
//! `shared_worker.rs`. The webhook signing key is shared through the `settings` table, so
//! the JWKS, signatures and callback tokens are the same on every node.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use deadpool_postgres::Transaction;
use parking_lot::Mutex;
use serde::Deserialize;

use super::config::{check_id, stream_list, stream_path, Kind, SubConfig};
use super::error::SubError;
use super::signing::Signer;
use super::ssrf::Policy;
use super::state::{StreamNow, SubState, Tails};
use super::token::{bearer, Claims, Tokens, Use, TOKEN_TTL_MS};
use super::{new_wake_id, pull, view, webhook};
use crate::config::Config;
use crate::store::postgres::{db_err, PgStore};
use crate::store::{now_ms, StoreError};

/// Settings row of the webhook signing key's seed.
const SEED_SETTING: &str = "webhook_signing_seed";
/// Advisory lock serializing subscription creation (the count limit holds across nodes).
const CREATE_LOCK: i64 = 0x6475_7273;

/// A subscription's node lease as read with its row.
pub(super) struct Lease {
    pub owner: Option<String>,
    pub until: i64,
}

/// Subscriptions in the database.
pub struct Shared {
    pub(super) pg: Arc<PgStore>,
    prefix: String,
    public_url: Option<String>,
    pub(super) webhooks: bool,
    policy: Policy,
    pub(super) signer: Signer,
    pub(super) tokens: Tokens,
    pub(super) http: webhook::Http,
    max_subscriptions: usize,
    max_links: usize,
    /// This node's lease owner name: `<bind address>/<pid>/<random>`.
    pub(super) node: String,
    /// How long a node lease lasts without renewal.
    pub(super) lease: Duration,
    /// Subscriptions this node holds the lease of (as of the last renewal or creation).
    pub(super) owned: Mutex<HashSet<String>>,
    /// Webhook wakes in flight from this node: subscription id → wake id.
    pub(super) delivering: Mutex<HashMap<String, String>>,
    /// Asks the worker for a look now.
    pub(super) notify: tokio::sync::Notify,
}

fn io_err(e: StoreError) -> SubError {
    SubError::Io(io::Error::other(e.to_string()))
}

fn pg_err(e: tokio_postgres::Error) -> SubError {
    io_err(db_err(e))
}

fn bad_state(e: serde_json::Error) -> SubError {
    SubError::Io(io::Error::other(format!("unreadable subscription row: {e}")))
}

/// The literal start of a pattern: every matching path starts with it.
fn literal_prefix(pattern: &str) -> &str {
    pattern.find('*').map_or(pattern, |i| &pattern[..i])
}

impl Shared {
    /// Loads (or creates, on the first node) the shared signing key.
    pub async fn open(
        pg: Arc<PgStore>,
        config: &Config,
        addr: SocketAddr,
    ) -> io::Result<Arc<Shared>> {
        let fresh: [u8; 32] = rand::random();
        let seed = pg
            .shared_setting(SEED_SETTING, &B64.encode(fresh))
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        let seed: [u8; 32] =
            B64.decode(&seed).ok().and_then(|s| s.try_into().ok()).ok_or_else(|| {
                io::Error::other("the shared webhook signing seed is not 32 bytes")
            })?;
        let signer = Signer::from_seed(seed);
        let policy = Policy { allow_localhost: config.allow_localhost_webhooks };
        let tag: u32 = rand::random();
        let node = format!("{addr}/{}/{tag:08x}", std::process::id());
        tracing::info!(node = %node, kid = signer.kid(), "subscriptions kept in the database");
        Ok(Arc::new(Shared {
            pg,
            prefix: config.prefix_path().to_string(),
            public_url: config.public_url.as_ref().map(|u| u.trim_end_matches('/').to_string()),
            webhooks: config.webhooks,
            policy,
            tokens: Tokens::from_seed(&signer.seed()),
            signer,
            http: webhook::Http::new(policy)?,
            max_subscriptions: config.max_subscriptions.max(1),
            max_links: config.max_subscription_links.max(1),
            node,
            lease: config.subscription_lease.max(Duration::from_millis(100)),
            owned: Mutex::new(HashSet::new()),
            delivering: Mutex::new(HashMap::new()),
            notify: tokio::sync::Notify::new(),
        }))
    }

    pub(super) fn key_of(&self, rel: &str) -> String {
        format!("{}/{rel}", self.prefix)
    }

    fn rel_of<'a>(&self, key: &'a str) -> Option<&'a str> {
        key.strip_prefix(self.prefix.as_str())?.strip_prefix('/').filter(|r| !r.is_empty())
    }

    pub(super) fn callback_url(&self, st: &SubState) -> String {
        webhook::callback_url(self.public_url.as_deref(), &self.prefix, &st.origin, &st.id)
    }

    fn origin(&self, host: Option<&str>) -> String {
        match (&self.public_url, host) {
            (Some(u), _) => u.clone(),
            (None, Some(h)) => format!("http://{h}"),
            (None, None) => "http://localhost".to_string(),
        }
    }

    fn describe(&self, st: &SubState, host: Option<&str>) -> serde_json::Value {
        let jwks = format!("{}{}/__ds/jwks.json", self.origin(host), self.prefix);
        view::subscription(st, &jwks, self.signer.kid())
    }

    fn too_many_links(&self) -> SubError {
        SubError::LimitExceeded {
            what: "too many streams linked to one subscription",
            limit: self.max_links,
            flag: "max-subscription-links",
        }
    }

    /// The JWK Set of the shared webhook signing key.
    pub fn jwks(&self) -> serde_json::Value {
        self.signer.jwks()
    }

    /// Facts of the streams at `rels` and of those `pattern` may match, by relative path;
    /// the second list holds the matching ones.
    async fn facts(
        &self,
        tx: &Transaction<'_>,
        rels: impl Iterator<Item = &String>,
        pattern: Option<&SubConfig>,
    ) -> Result<(Tails, Vec<(String, StreamNow)>, HashSet<String>), SubError> {
        let keys: Vec<String> = rels.map(|r| self.key_of(r)).collect();
        let starting =
            pattern.and_then(|c| c.pattern.as_deref()).map(|p| self.key_of(literal_prefix(p)));
        let facts = self.pg.stream_facts(tx, &keys, starting.as_deref()).await.map_err(io_err)?;
        let mut tails = Tails::new();
        let mut matching = Vec::new();
        let mut json = HashSet::new();
        for f in facts {
            let Some(rel) = self.rel_of(&f.key) else { continue };
            let now = StreamNow { id: f.id, base: f.base, tail: f.tail };
            if pattern.is_some_and(|c| c.globs(rel)) {
                matching.push((rel.to_string(), now));
            }
            if f.json {
                json.insert(rel.to_string());
            }
            tails.insert(rel.to_string(), now);
        }
        Ok((tails, matching, json))
    }

    /// Runs `f` on subscription `id` inside a transaction holding its row, after bringing
    /// its links in line with the streams (`extra`: more paths whose facts `f` needs).
    /// Writes the state back when it changed; nothing is written when `f` fails.
    pub(super) async fn with_sub<T>(
        &self,
        id: &str,
        extra: &[String],
        f: impl FnOnce(&mut SubState, &Tails, &Lease) -> Result<T, SubError>,
    ) -> Result<T, SubError> {
        let mut client =
            self.pg.pool().get().await.map_err(|e| SubError::Io(io::Error::other(e)))?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let r = tx
            .query_opt(
                "SELECT state, owner, owner_until FROM subscriptions WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(pg_err)?
            .ok_or(SubError::NotFound)?;
        let mut st: SubState = serde_json::from_str(r.get(0)).map_err(bad_state)?;
        let lease = Lease { owner: r.get(1), until: r.get(2) };
        let before = st.clone();
        let cfg = st.config.clone();
        let (tails, matching, _) =
            self.facts(&tx, st.links.keys().chain(extra), Some(&cfg)).await?;
        st.reconcile(&tails);
        for (rel, now) in &matching {
            if st.links.len() < self.max_links || st.links.contains_key(rel) {
                st.stream_created(rel, *now);
            }
        }
        let out = f(&mut st, &tails, &lease)?;
        if st != before {
            let text = serde_json::to_string(&st).map_err(bad_state)?;
            tx.execute("UPDATE subscriptions SET state = $2 WHERE id = $1", &[&id, &text])
                .await
                .map_err(pg_err)?;
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(out)
    }

    /// `PUT`: creates a subscription (this node takes its lease), or re-confirms one with
    /// the same configuration.
    pub async fn put(
        &self,
        id: &str,
        body: &[u8],
        host: Option<&str>,
    ) -> Result<(serde_json::Value, bool), SubError> {
        check_id(id)?;
        let cfg = SubConfig::parse(body, self.policy, self.webhooks)?;
        let mut client =
            self.pg.pool().get().await.map_err(|e| SubError::Io(io::Error::other(e)))?;
        let tx = client.transaction().await.map_err(pg_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CREATE_LOCK]).await.map_err(pg_err)?;
        let old = tx
            .query_opt("SELECT state FROM subscriptions WHERE id = $1", &[&id])
            .await
            .map_err(pg_err)?;
        if let Some(r) = old {
            let st: SubState = serde_json::from_str(r.get(0)).map_err(bad_state)?;
            return if st.hash == cfg.hash() {
                Ok((self.describe(&st, host), false))
            } else {
                Err(SubError::AlreadyExists)
            };
        }
        let count: i64 =
            tx.query_one("SELECT count(*) FROM subscriptions", &[]).await.map_err(pg_err)?.get(0);
        if usize::try_from(count).unwrap_or(usize::MAX) >= self.max_subscriptions {
            return Err(SubError::LimitExceeded {
                what: "too many subscriptions",
                limit: self.max_subscriptions,
                flag: "max-subscriptions",
            });
        }
        let named: Vec<String> =
            cfg.streams.iter().chain(cfg.wake_stream.iter()).cloned().collect();
        let (tails, matching, json) = self.facts(&tx, named.iter(), Some(&cfg)).await?;
        if let Some(ws) = &cfg.wake_stream {
            if tails.contains_key(ws) && !json.contains(ws) {
                return Err(SubError::invalid(format!(
                    "wake_stream {ws:?} is not a JSON stream: wake events are JSON messages, \
                     so the wake stream must have content type application/json"
                )));
            }
        }
        let explicit = cfg.streams.clone();
        let now = now_ms();
        let mut st = SubState::new(id.to_string(), cfg, self.origin(host), now);
        // Eager backfill: existing matching streams are linked at their tails.
        for (rel, n) in &matching {
            st.link_at_tail(rel, Some(*n), false);
        }
        for rel in explicit {
            let n = tails.get(&rel).copied();
            st.link_at_tail(&rel, n, true);
        }
        if st.links.len() > self.max_links {
            return Err(self.too_many_links());
        }
        let text = serde_json::to_string(&st).map_err(bad_state)?;
        let until = now.saturating_add(self.lease_ms());
        tx.execute(
            "INSERT INTO subscriptions (id, state, owner, owner_until) VALUES ($1, $2, $3, $4)",
            &[&id, &text, &self.node, &until],
        )
        .await
        .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        self.owned.lock().insert(id.to_string());
        self.notify.notify_one();
        Ok((self.describe(&st, host), true))
    }

    pub(super) fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// `GET`: the subscription as JSON.
    pub async fn get(&self, id: &str, host: Option<&str>) -> Result<serde_json::Value, SubError> {
        self.with_sub(id, &[], |st, _, _| Ok(self.describe(st, host))).await
    }

    /// Every subscription as JSON, in id order (the admin listing).
    pub async fn list(&self) -> Result<Vec<serde_json::Value>, SubError> {
        let client = self.pg.pool().get().await.map_err(|e| SubError::Io(io::Error::other(e)))?;
        let rows = client
            .query("SELECT state FROM subscriptions ORDER BY id", &[])
            .await
            .map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                let st: SubState = serde_json::from_str(r.get(0)).map_err(bad_state)?;
                Ok(self.describe(&st, None))
            })
            .collect()
    }

    /// `DELETE`: removes the row (a delivery in flight then records nothing).
    pub async fn delete(&self, id: &str) -> Result<(), SubError> {
        let client = self.pg.pool().get().await.map_err(|e| SubError::Io(io::Error::other(e)))?;
        let n = client
            .execute("DELETE FROM subscriptions WHERE id = $1", &[&id])
            .await
            .map_err(pg_err)?;
        self.owned.lock().remove(id);
        if n == 0 {
            return Err(SubError::NotFound);
        }
        Ok(())
    }

    /// `POST …/streams`: adds explicit links at the streams' current tails.
    pub async fn add_streams(&self, id: &str, body: &[u8]) -> Result<(), SubError> {
        #[derive(Deserialize)]
        struct Body {
            streams: Vec<String>,
        }
        let b: Body = serde_json::from_slice(body)
            .map_err(|e| SubError::invalid(format!("body must be {{\"streams\": [...]}}: {e}")))?;
        let streams = stream_list(b.streams)?;
        self.with_sub(id, &streams, |st, tails, _| {
            let added = streams.iter().filter(|p| !st.links.contains_key(*p)).count();
            if st.links.len() + added > self.max_links {
                return Err(self.too_many_links());
            }
            for p in &streams {
                st.link_at_tail(p, tails.get(p).copied(), true);
            }
            Ok(())
        })
        .await?;
        self.notify.notify_one();
        Ok(())
    }

    /// `DELETE …/streams/:path`: removes an explicit link (a glob link stays).
    pub async fn remove_stream(&self, id: &str, raw_path: &str) -> Result<(), SubError> {
        let path = stream_path(raw_path)?;
        self.with_sub(id, &[], |st, _, _| {
            st.unlink_explicit(&path);
            Ok(())
        })
        .await
    }

    /// Callback (webhook) and ack (pull-wake): token, fencing, acks, then heartbeat or done.
    async fn ack_flow(
        &self,
        id: &str,
        headers: &http::HeaderMap,
        body: &[u8],
        kind: Kind,
        usage: Use,
    ) -> Result<bool, SubError> {
        let token = bearer(headers)?;
        let (next, done) = self
            .with_sub(id, &[], |st, tails, _| {
                check_kind(st, kind)?;
                let claims = self.tokens.verify(token, id, usage, now_ms())?;
                let req = pull::parse_ack(body)?;
                let now = now_ms();
                st.fence(&claims, req.generation, &req.wake_id, now)?;
                st.apply_acks(&req.acks, tails)?;
                Ok(if req.done {
                    st.wake = None;
                    (st.pending(tails), true)
                } else {
                    st.heartbeat(now);
                    (false, false)
                })
            })
            .await?;
        if done {
            self.notify.notify_one();
        }
        Ok(next)
    }

    /// `POST …/callback` of a webhook wake.
    pub async fn callback(
        &self,
        id: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<bool, SubError> {
        self.ack_flow(id, headers, body, Kind::Webhook, Use::Callback).await
    }

    /// `POST …/ack` of a claimed pull-wake.
    pub async fn ack(
        &self,
        id: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<bool, SubError> {
        self.ack_flow(id, headers, body, Kind::PullWake, Use::Claim).await
    }

    /// `POST …/claim`: takes the subscription's lease for `worker`.
    pub async fn claim(&self, id: &str, body: &[u8]) -> Result<serde_json::Value, SubError> {
        let worker = pull::parse_worker(body)?;
        self.with_sub(id, &[], |st, tails, _| {
            check_kind(st, Kind::PullWake)?;
            let now = now_ms();
            let wake = st.claim(&worker, tails, now, new_wake_id())?.clone();
            let token = self.tokens.issue(&Claims {
                sub: id.to_string(),
                gen: wake.generation,
                wake: wake.wake_id.clone(),
                usage: Use::Claim,
                exp: now.saturating_add(TOKEN_TTL_MS),
            });
            Ok(view::claim(st, &wake, &token))
        })
        .await
    }

    /// `POST …/release`: gives the lease back without acking; pending work wakes again.
    pub async fn release(
        &self,
        id: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<(), SubError> {
        let token = bearer(headers)?;
        self.with_sub(id, &[], |st, _, _| {
            check_kind(st, Kind::PullWake)?;
            let claims = self.tokens.verify(token, id, Use::Claim, now_ms())?;
            let req = pull::parse_ack(body)?;
            st.fence(&claims, req.generation, &req.wake_id, now_ms())?;
            st.wake = None;
            Ok(())
        })
        .await?;
        self.notify.notify_one();
        Ok(())
    }
}

fn check_kind(st: &SubState, kind: Kind) -> Result<(), SubError> {
    if st.kind() != kind {
        return Err(SubError::invalid(format!("subscription is not {}", kind.as_str())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::literal_prefix;

    #[test]
    fn literal_prefixes() {
        assert_eq!(literal_prefix("events/*"), "events/");
        assert_eq!(literal_prefix("user-*/x"), "user-");
        assert_eq!(literal_prefix("**"), "");
        assert_eq!(literal_prefix("a/b"), "a/b");
    }
}
