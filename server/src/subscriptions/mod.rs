//! Subscriptions (spec sections 6 and 7): durable cursors over sets of streams that wake a
//! worker, by signed webhook or by a wake event in a pull-wake stream, when linked streams
//! have data past their cursor.
//!
//! Layout:
//! - `config.rs`: the `PUT` body, validation, normalization, configuration hash;
//! - `glob.rs`: patterns; `ssrf.rs`: webhook URL validation; `signing.rs`: the Ed25519
//!   webhook key and JWKS; `token.rs`: callback and claim tokens;
//! - `state.rs`: one subscription's state and rules (links, generations, leases, fencing,
//!   retry schedule), pure and clock-free; `persist.rs`: durable state, one file each;
//! - this file: the registry, the store hooks, and the control operations (create, read,
//!   delete, membership); `pull.rs` and `webhook.rs`: delivery, claim, ack, release,
//!   callback; `worker.rs`: the background task issuing wakes and expiring leases;
//! - `routes.rs` and `view.rs`: HTTP routing and JSON shapes;
//! - `ops.rs`: worker and webhook-outcome rules shared by both registries;
//!   `shared.rs` and `shared_worker.rs`: the registry kept in PostgreSQL (node leases);
//!   `service.rs`: the enum the routes call.
//!
//! Concurrency: each subscription's state sits behind its own mutex (`Entry::slot`), held
//! only for in-memory rule steps; store calls and disk writes happen outside it. Lock order
//! is registry → slot → index. Disk writes of one id are serialized by a per-id async lock
//! (`io_lock`) and versioned, so the newest state always wins. The store calls the hooks
//! with none of its locks held, and the hooks only take subscription locks, so the two
//! never wait on each other. Wakes are issued only after their generation is written.

mod config;
mod error;
mod glob;
mod limits;
mod ops;
mod persist;
mod pull;
pub mod routes;
mod service;
mod shared;
mod shared_worker;
mod signing;
mod ssrf;
mod state;
mod token;
mod view;
mod webhook;
mod worker;

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};

use crate::config::{Config, FsyncPolicy};
use crate::store::{now_ms, Hooks, Store, Stream};
use config::{stream_list, stream_path, SubConfig};
pub use error::SubError;
use persist::Persist;
pub use service::Service;
pub use shared::Shared;
pub use signing::verify as verify_webhook_signature;
use signing::Signer;
use ssrf::Policy;
use state::{StreamNow, SubState, Tails};
use token::Tokens;
pub use view::timestamp as view_timestamp;

/// One subscription in memory.
struct Entry {
    id: String,
    slot: Mutex<Slot>,
    /// Highest `Slot::version` on disk.
    written: AtomicU64,
}

struct Slot {
    state: SubState,
    /// Bumped on every change; compared with `Entry::written`.
    version: u64,
    /// Tombstone: deleted; every late request on this entry fails.
    deleted: bool,
    /// The wake id whose webhook request is in flight.
    delivering: Option<String>,
}

impl Slot {
    fn touch(&mut self) {
        self.version += 1;
    }
}

impl Entry {
    fn new(state: SubState) -> Arc<Entry> {
        let id = state.id.clone();
        let slot = Slot { state, version: 1, deleted: false, delivering: None };
        Arc::new(Entry { id, slot: Mutex::new(slot), written: AtomicU64::new(0) })
    }
}

/// All subscriptions of a server.
pub struct Subscriptions {
    store: Arc<Store>,
    /// The stream URL prefix (`/v1/stream`, or empty for the root).
    prefix: String,
    public_url: Option<String>,
    webhooks: bool,
    policy: Policy,
    signer: Signer,
    tokens: Tokens,
    persist: Arc<Persist>,
    http: webhook::Http,
    registry: RwLock<HashMap<String, Arc<Entry>>>,
    /// Stream path → ids of the subscriptions linking it.
    index: RwLock<HashMap<String, HashSet<String>>>,
    /// Subscriptions the worker should look at soon.
    dirty: Mutex<HashSet<String>>,
    notify: tokio::sync::Notify,
    io_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    failed: AtomicBool,
    max_subscriptions: usize,
    max_links: usize,
    /// When a pattern link was last skipped for the link cap (ms), to rate-limit the log.
    last_link_warning: AtomicU64,
}

/// Forwards store changes to the subscriptions (weakly: the store outlives nothing).
struct StoreHooks(Weak<Subscriptions>);

impl Hooks for StoreHooks {
    fn created(&self, stream: &Arc<Stream>) {
        if let Some(s) = self.0.upgrade() {
            s.on_created(stream);
        }
    }

    fn appended(&self, stream: &Arc<Stream>) {
        if let Some(s) = self.0.upgrade() {
            s.on_changed(&stream.meta.path);
        }
    }

    fn removed(&self, path: &str) {
        if let Some(s) = self.0.upgrade() {
            s.on_changed(path);
        }
    }
}

impl Subscriptions {
    /// Loads the signing key and every subscription, reconciles links with the recovered
    /// streams, and installs the store hooks (blocking: reads the disk).
    pub fn open(store: Arc<Store>, config: &Config) -> io::Result<Arc<Subscriptions>> {
        let (signer, persist) = match &config.data_dir {
            None => (Signer::generate(), Persist::memory()),
            Some(dir) => {
                let sync = config.fsync == FsyncPolicy::Always;
                (Signer::load_or_create(dir)?, Persist::open(dir, sync)?)
            }
        };
        let policy = Policy { allow_localhost: config.allow_localhost_webhooks };
        let states = persist.load_all()?;
        let subs = Arc::new(Subscriptions {
            store,
            prefix: config.prefix_path().to_string(),
            public_url: config.public_url.as_ref().map(|u| u.trim_end_matches('/').to_string()),
            webhooks: config.webhooks,
            policy,
            tokens: Tokens::from_seed(&signer.seed()),
            signer,
            persist: Arc::new(persist),
            http: webhook::Http::new(policy)?,
            registry: RwLock::new(HashMap::new()),
            index: RwLock::new(HashMap::new()),
            dirty: Mutex::new(HashSet::new()),
            notify: tokio::sync::Notify::new(),
            io_locks: Mutex::new(HashMap::new()),
            failed: AtomicBool::new(false),
            max_subscriptions: config.max_subscriptions.max(1),
            max_links: config.max_subscription_links.max(1),
            last_link_warning: AtomicU64::new(0),
        });
        let all: Vec<(String, StreamNow)> = subs
            .store
            .snapshot_streams()
            .iter()
            .filter_map(|s| {
                let rel = subs.rel_of(&s.meta.path)?.to_string();
                let now = subs.stream_now(&rel)?;
                Some((rel, now))
            })
            .collect();
        let tails: Tails = all.iter().cloned().collect();
        for mut st in states {
            // Links written lazily are rebuilt by the rule the hooks follow (see persist.rs).
            let (mut changed, _) = st.reconcile(&tails);
            for (rel, now) in &all {
                changed |= st.stream_created(rel, *now);
            }
            let entry = Entry::new(st);
            if !changed {
                entry.written.store(1, Ordering::SeqCst);
            }
            subs.insert(entry);
        }
        tracing::info!(
            subscriptions = subs.registry.read().len(),
            webhooks = subs.webhooks,
            "subscriptions loaded"
        );
        let writes: Vec<Arc<Entry>> = subs.entries();
        for e in writes {
            subs.write_now(&e)?;
        }
        let hooks: Arc<dyn Hooks> = Arc::new(StoreHooks(Arc::downgrade(&subs)));
        subs.store.set_hooks(hooks);
        Ok(subs)
    }

    fn insert(&self, entry: Arc<Entry>) {
        let paths: Vec<String> = entry.slot.lock().state.links.keys().cloned().collect();
        self.registry.write().insert(entry.id.clone(), entry.clone());
        let mut index = self.index.write();
        for p in paths {
            index.entry(p).or_default().insert(entry.id.clone());
        }
    }

    fn entries(&self) -> Vec<Arc<Entry>> {
        self.registry.read().values().cloned().collect()
    }

    fn lookup(&self, id: &str) -> Result<Arc<Entry>, SubError> {
        self.registry.read().get(id).cloned().ok_or(SubError::NotFound)
    }

    fn index_add(&self, id: &str, paths: impl IntoIterator<Item = String>) {
        let mut index = self.index.write();
        for p in paths {
            index.entry(p).or_default().insert(id.to_string());
        }
    }

    fn index_remove(&self, id: &str, paths: impl IntoIterator<Item = String>) {
        let mut index = self.index.write();
        for p in paths {
            if let Some(set) = index.get_mut(&p) {
                set.remove(id);
                if set.is_empty() {
                    index.remove(&p);
                }
            }
        }
    }

    /// The store key of a stream-root-relative path.
    fn key_of(&self, rel: &str) -> String {
        format!("{}/{rel}", self.prefix)
    }

    /// The stream-root-relative path of a store key.
    fn rel_of<'a>(&self, key: &'a str) -> Option<&'a str> {
        key.strip_prefix(self.prefix.as_str())?.strip_prefix('/').filter(|r| !r.is_empty())
    }

    /// A live stream's current facts (never call with a subscription lock held: the store
    /// may expire the stream and call the hooks).
    fn stream_now(&self, rel: &str) -> Option<StreamNow> {
        let s = self.store.get(&self.key_of(rel)).ok()?;
        Some(StreamNow { id: s.id, base: s.meta.base, tail: s.visible().tail })
    }

    fn tails<'a>(&self, paths: impl IntoIterator<Item = &'a String>) -> Tails {
        paths.into_iter().filter_map(|p| Some((p.clone(), self.stream_now(p)?))).collect()
    }

    fn link_paths(entry: &Entry) -> Vec<String> {
        entry.slot.lock().state.links.keys().cloned().collect()
    }

    /// Asks the worker to look at subscription `id`.
    fn kick(&self, id: &str) {
        self.dirty.lock().insert(id.to_string());
        self.notify.notify_one();
    }

    fn check_writable(&self) -> Result<(), SubError> {
        if self.failed.load(Ordering::SeqCst) {
            Err(SubError::Unavailable)
        } else {
            Ok(())
        }
    }

    /// Writes the entry's state if it changed since the last write.
    async fn save(&self, entry: &Arc<Entry>) -> Result<(), SubError> {
        if !self.persist.is_durable() {
            return Ok(());
        }
        let lock = self.io_lock(&entry.id);
        let _held = lock.lock().await;
        self.save_locked(entry).await
    }

    /// [`Subscriptions::save`] for a caller already holding the id's `io_lock`.
    async fn save_locked(&self, entry: &Arc<Entry>) -> Result<(), SubError> {
        if !self.persist.is_durable() {
            return Ok(());
        }
        let (version, state) = {
            let slot = entry.slot.lock();
            if slot.deleted || slot.version <= entry.written.load(Ordering::SeqCst) {
                return Ok(());
            }
            (slot.version, slot.state.clone())
        };
        let persist = self.persist.clone();
        let res = tokio::task::spawn_blocking(move || persist.write(&state))
            .await
            .map_err(io::Error::other)
            .and_then(|r| r);
        match res {
            Ok(()) => {
                entry.written.fetch_max(version, Ordering::SeqCst);
                Ok(())
            }
            Err(e) => {
                // Durability is unknown: refuse further changes, like the stream store.
                self.failed.store(true, Ordering::SeqCst);
                tracing::error!(id = %entry.id, "writing subscription state failed: {e}");
                Err(SubError::Io(e))
            }
        }
    }

    /// Blocking write at start-up and shutdown (never on an async thread).
    fn write_now(&self, entry: &Arc<Entry>) -> io::Result<()> {
        let lock = self.io_lock(&entry.id);
        let _held = lock.blocking_lock();
        let (version, state) = {
            let slot = entry.slot.lock();
            if slot.deleted || slot.version <= entry.written.load(Ordering::SeqCst) {
                return Ok(());
            }
            (slot.version, slot.state.clone())
        };
        self.persist.write(&state)?;
        entry.written.fetch_max(version, Ordering::SeqCst);
        Ok(())
    }

    /// Writes every changed subscription (blocking: call it off the async threads).
    pub fn flush(&self) -> io::Result<()> {
        for e in self.entries() {
            self.write_now(&e)?;
        }
        Ok(())
    }

    /// The JWK Set of the webhook signing key.
    pub fn jwks(&self) -> serde_json::Value {
        self.signer.jwks()
    }

    /// `scheme://host[:port]` for URLs in answers: `--public-url`, or the request's host.
    fn origin(&self, host: Option<&str>) -> String {
        match (&self.public_url, host) {
            (Some(u), _) => u.clone(),
            (None, Some(h)) => format!("http://{h}"),
            (None, None) => "http://localhost".to_string(),
        }
    }

    fn jwks_url(&self, origin: &str) -> String {
        format!("{origin}{}/__ds/jwks.json", self.prefix)
    }

    /// The subscription as JSON, with URLs on `host`.
    fn describe(&self, st: &SubState, host: Option<&str>) -> serde_json::Value {
        view::subscription(st, &self.jwks_url(&self.origin(host)), self.signer.kid())
    }

    /// Store hook: a stream was created. Links it (at its base) to every subscription whose
    /// pattern matches or that names it explicitly, before the create is answered.
    fn on_created(&self, stream: &Arc<Stream>) {
        let Some(rel) = self.rel_of(&stream.meta.path) else { return };
        let registry = self.registry.read();
        if registry.is_empty() {
            return;
        }
        let now = StreamNow { id: stream.id, base: stream.meta.base, tail: stream.visible().tail };
        let mut touched = Vec::new();
        for e in registry.values() {
            let mut slot = e.slot.lock();
            if !slot.deleted && !self.link_allowed(&slot.state, rel) {
                if slot.state.config.globs(rel) {
                    self.warn_link_skipped(&e.id, rel);
                }
                continue;
            }
            if !slot.deleted && slot.state.stream_created(rel, now) {
                slot.touch();
                self.index_add(&e.id, [rel.to_string()]);
                touched.push(e.id.clone());
            }
        }
        drop(registry);
        if !touched.is_empty() {
            self.dirty.lock().extend(touched);
            self.notify.notify_one();
        }
    }

    /// Store hook: a stream got data or went away; wakes its subscriptions' worker pass.
    fn on_changed(&self, key: &str) {
        let Some(rel) = self.rel_of(key) else { return };
        let ids = match self.index.read().get(rel) {
            Some(ids) => ids.clone(),
            None => return,
        };
        self.dirty.lock().extend(ids);
        self.notify.notify_one();
    }

    /// `PUT`: creates a subscription, or re-confirms one with the same configuration.
    /// Returns the subscription as JSON and whether it was created.
    pub async fn put(
        &self,
        id: &str,
        body: &[u8],
        host: Option<&str>,
    ) -> Result<(serde_json::Value, bool), SubError> {
        config::check_id(id)?;
        let cfg = SubConfig::parse(body, self.policy, self.webhooks)?;
        let lock = self.io_lock(id);
        let _held = lock.lock().await;
        if let Ok(e) = self.lookup(id) {
            let slot = e.slot.lock();
            return if slot.state.hash == cfg.hash() {
                Ok((self.describe(&slot.state, host), false))
            } else {
                Err(SubError::AlreadyExists)
            };
        }
        self.check_writable()?;
        if self.registry.read().len() >= self.max_subscriptions {
            return Err(SubError::LimitExceeded {
                what: "too many subscriptions",
                limit: self.max_subscriptions,
                flag: "max-subscriptions",
            });
        }
        if let Some(ws) = &cfg.wake_stream {
            if self.store.get(&self.key_of(ws)).is_ok_and(|s| !s.is_json()) {
                return Err(SubError::invalid(format!(
                    "wake_stream {ws:?} is not a JSON stream: wake events are JSON messages, \
                     so the wake stream must have content type application/json"
                )));
            }
        }
        let explicit: Vec<(String, Option<StreamNow>)> =
            cfg.streams.iter().map(|p| (p.clone(), self.stream_now(p))).collect();
        let mut st = SubState::new(id.to_string(), cfg, self.origin(host), now_ms());
        // Eager backfill: existing matching streams are linked at their tails.
        let seen = self.matching_streams(&st);
        for (rel, now) in &seen {
            st.link_at_tail(rel, Some(*now), false);
        }
        for (rel, now) in explicit {
            st.link_at_tail(&rel, now, true);
        }
        if st.links.len() > self.max_links {
            return Err(self.too_many_links());
        }
        let entry = Entry::new(st);
        self.insert(entry.clone());
        // Streams created between the backfill and the insert were not seen by their
        // creation hook: link them at their base like the hook would have.
        let late: Vec<(String, StreamNow)> = {
            let st = entry.slot.lock().state.clone();
            self.matching_streams(&st).into_iter().filter(|(r, _)| !seen.contains_key(r)).collect()
        };
        {
            let mut slot = entry.slot.lock();
            for (rel, now) in &late {
                if self.link_allowed(&slot.state, rel) && slot.state.stream_created(rel, *now) {
                    slot.touch();
                }
            }
        }
        self.index_add(id, late.into_iter().map(|(r, _)| r));
        if let Err(e) = self.save_locked(&entry).await {
            self.registry.write().remove(id);
            self.index_remove(id, Self::link_paths(&entry));
            return Err(e);
        }
        self.kick(id);
        let slot = entry.slot.lock();
        Ok((self.describe(&slot.state, host), true))
    }

    /// Live streams the subscription's pattern matches.
    fn matching_streams(&self, st: &SubState) -> HashMap<String, StreamNow> {
        if st.config.pattern.is_none() {
            return HashMap::new();
        }
        self.store
            .snapshot_streams()
            .iter()
            .filter_map(|s| {
                let rel = self.rel_of(&s.meta.path)?;
                if !st.config.globs(rel) {
                    return None;
                }
                Some((rel.to_string(), self.stream_now(rel)?))
            })
            .collect()
    }

    /// `GET`: the subscription as JSON.
    pub fn get(&self, id: &str, host: Option<&str>) -> Result<serde_json::Value, SubError> {
        let e = self.lookup(id)?;
        let slot = e.slot.lock();
        if slot.deleted {
            return Err(SubError::NotFound);
        }
        Ok(self.describe(&slot.state, host))
    }

    /// Every subscription as JSON, in id order (the admin listing).
    pub fn list(&self) -> Vec<serde_json::Value> {
        let mut entries = self.entries();
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        entries
            .iter()
            .filter_map(|e| {
                let slot = e.slot.lock();
                (!slot.deleted).then(|| self.describe(&slot.state, None))
            })
            .collect()
    }

    /// `DELETE`: tombstones the subscription and removes its file.
    pub async fn delete(&self, id: &str) -> Result<(), SubError> {
        let lock = self.io_lock(id);
        let _held = lock.lock().await;
        let entry = self.registry.write().remove(id).ok_or(SubError::NotFound)?;
        let paths = {
            let mut slot = entry.slot.lock();
            slot.deleted = true;
            slot.state.links.keys().cloned().collect::<Vec<_>>()
        };
        self.index_remove(id, paths);
        let persist = self.persist.clone();
        let owned = id.to_string();
        let removed = tokio::task::spawn_blocking(move || persist.remove(&owned))
            .await
            .map_err(io::Error::other)
            .and_then(|r| r);
        if let Err(e) = removed {
            self.failed.store(true, Ordering::SeqCst);
            return Err(SubError::Io(e));
        }
        Ok(())
    }

    /// `POST …/streams`: adds explicit links at the streams' current tails.
    pub async fn add_streams(&self, id: &str, body: &[u8]) -> Result<(), SubError> {
        #[derive(serde::Deserialize)]
        struct Body {
            streams: Vec<String>,
        }
        let b: Body = serde_json::from_slice(body)
            .map_err(|e| SubError::invalid(format!("body must be {{\"streams\": [...]}}: {e}")))?;
        let streams = stream_list(b.streams)?;
        self.check_writable()?;
        let lock = self.io_lock(id);
        let _held = lock.lock().await;
        let entry = self.lookup(id)?;
        let nows: Vec<(String, Option<StreamNow>)> =
            streams.into_iter().map(|p| (p.clone(), self.stream_now(&p))).collect();
        {
            let mut slot = entry.slot.lock();
            let added = nows.iter().filter(|(p, _)| !slot.state.links.contains_key(p)).count();
            if slot.state.links.len() + added > self.max_links {
                return Err(self.too_many_links());
            }
            for (p, now) in &nows {
                slot.state.link_at_tail(p, *now, true);
            }
            slot.touch();
        }
        self.index_add(id, nows.into_iter().map(|(p, _)| p));
        self.save_locked(&entry).await?;
        self.kick(id);
        Ok(())
    }

    /// `DELETE …/streams/:path`: removes an explicit link (a glob link stays).
    pub async fn remove_stream(&self, id: &str, raw_path: &str) -> Result<(), SubError> {
        let path = stream_path(raw_path)?;
        self.check_writable()?;
        let lock = self.io_lock(id);
        let _held = lock.lock().await;
        let entry = self.lookup(id)?;
        let gone = {
            let mut slot = entry.slot.lock();
            let gone = slot.state.unlink_explicit(&path);
            slot.touch();
            gone
        };
        if gone {
            self.index_remove(id, [path]);
        }
        self.save_locked(&entry).await
    }
}

/// A fresh wake id.
fn new_wake_id() -> String {
    let bytes: [u8; 12] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("w_{hex}")
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod limits_tests;
