//! State Protocol compaction (`docs/state-compaction.md`): a JSON stream's change events
//! are materialized into a snapshot stream holding the latest value per type and key,
//! framed by `snapshot-start`/`snapshot-end`, so a new follower reads the snapshot and the
//! tail instead of the whole history. Optionally the source is trimmed before the snapshot.
//!
//! Built only on the store's public operations (get, create, read, delete) plus the one
//! trim step, through [`Backend`], so it works on the local engines and on PostgreSQL
//! (where any node compacts, and the snapshots are found in the database). A snapshot is published by a single `create` with its whole body and closed,
//! one durable record: after a crash it is complete or absent, never partial.

mod build;
pub mod names;
pub mod routes;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use durastream::state::MaterializedState;
use parking_lot::Mutex;

use crate::store::file::faults;
use crate::store::{Backend, CreateRequest, StoreError, Stream};
pub use build::Counts;

/// Settings of `--state-compaction`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactConfig {
    /// Compact a JSON stream by itself once this many bytes were appended since its newest
    /// snapshot; `None`: only on request.
    pub auto_bytes: Option<u64>,
    /// Drop the source's bytes before each new snapshot's offset.
    pub trim: bool,
    /// Largest snapshot built, in bytes.
    pub max_bytes: usize,
}

impl Default for CompactConfig {
    fn default() -> Self {
        CompactConfig { auto_bytes: None, trim: false, max_bytes: 64 * 1024 * 1024 }
    }
}

/// Why a compaction did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error("stream not found")]
    NotFound,
    #[error("stream is deleted")]
    Gone,
    #[error("only JSON streams (application/json) carry State Protocol events")]
    NotJson,
    #[error("the stream ends inside an open snapshot (snapshot-start without snapshot-end); compact again once it is closed")]
    OpenSnapshot,
    #[error("not a State Protocol stream: none of its {malformed} messages is a state event")]
    NotState { malformed: u64 },
    #[error("the state is larger than --state-compaction-max-bytes ({max} bytes)")]
    TooLarge { max: usize },
    #[error(transparent)]
    Store(StoreError),
    #[error("storage read failed: {0}")]
    Io(std::io::Error),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for CompactError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => CompactError::NotFound,
            StoreError::Gone => CompactError::Gone,
            other => CompactError::Store(other),
        }
    }
}

/// The newest snapshot of one source stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotRef {
    /// The source position it covers: the source's tail when it was built.
    pub pos: u64,
    /// Its store key.
    pub key: String,
    /// The source stream it was built from (a re-created stream at the same path has
    /// another id, and no snapshot).
    source_id: u64,
}

/// The outcome of a compaction.
#[derive(Clone, Debug)]
pub struct Compacted {
    pub snapshot: SnapshotRef,
    /// False when the newest snapshot already covered the source's tail.
    pub created: bool,
    /// Events read from the source for this snapshot (after the previous snapshot).
    pub counts: Counts,
    /// Entities in the snapshot.
    pub entities: usize,
    /// The snapshot's size in bytes (stored form).
    pub bytes: u64,
}

/// Builds and tracks snapshots.
pub struct Compactor {
    store: Backend,
    config: CompactConfig,
    prefix: String,
    /// Source store key → newest snapshot.
    index: Mutex<HashMap<String, SnapshotRef>>,
    /// Streams the automatic policy found not to hold State Protocol events (by id).
    not_state: Mutex<HashMap<String, u64>>,
    /// One compaction at a time: bounds memory to one state.
    running: tokio::sync::Mutex<()>,
}

impl Compactor {
    /// Indexes the snapshots in `store`, deleting those of streams that are gone or
    /// re-created and those a newer one replaces (left by a crash between publishing a
    /// snapshot and deleting the older one).
    pub async fn open(store: Backend, config: CompactConfig, prefix: &str) -> Arc<Compactor> {
        let c = Arc::new(Compactor {
            store,
            config,
            prefix: prefix.to_string(),
            index: Mutex::new(HashMap::new()),
            not_state: Mutex::new(HashMap::new()),
            running: tokio::sync::Mutex::new(()),
        });
        c.rescan().await;
        c
    }

    /// The newest valid snapshot of each source among `snaps` (key, creation time), and the
    /// keys of the others: of sources gone or re-created since, or replaced by a newer one.
    async fn newest_of(
        &self,
        snaps: Vec<(String, i64)>,
    ) -> (HashMap<String, SnapshotRef>, Vec<String>) {
        let mut newest: HashMap<String, SnapshotRef> = HashMap::new();
        let mut stale = Vec::new();
        for (key, created_ms) in snaps {
            let Some((source_key, pos)) = names::parse_key(&key) else { continue };
            let source_key = source_key.to_string();
            let valid = match self.store.get(&source_key).await {
                Ok(src) => (created_ms >= src.meta.created_ms && pos <= src.visible().tail)
                    .then_some(src.id),
                Err(StoreError::NotFound | StoreError::Gone) => None,
                // Not known now (a database error): decide on a later pass.
                Err(_) => continue,
            };
            let Some(source_id) = valid else {
                stale.push(key);
                continue;
            };
            let r = SnapshotRef { pos, key, source_id };
            match newest.get(&source_key) {
                Some(cur) if cur.pos >= pos => stale.push(r.key),
                _ => {
                    if let Some(old) = newest.insert(source_key, r) {
                        stale.push(old.key);
                    }
                }
            }
        }
        (newest, stale)
    }

    /// Re-reads every snapshot from the store into the index and deletes stale ones.
    async fn rescan(&self) {
        let snaps = match self.store.snapshot_keys(None).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("listing snapshots failed: {e}");
                return;
            }
        };
        let (newest, stale) = self.newest_of(snaps).await;
        *self.index.lock() = newest;
        for key in stale {
            self.remove_snapshot(&key).await;
        }
    }

    pub fn config(&self) -> &CompactConfig {
        &self.config
    }

    /// The newest snapshot of the live stream at `source_key`, if any. With a shared
    /// database it is looked up there, so every node names the same one.
    pub async fn newest(&self, source_key: &str) -> Option<SnapshotRef> {
        if let Backend::Postgres(_) = &self.store {
            let snaps = self.store.snapshot_keys(Some(source_key)).await.ok()?;
            let (mut newest, _) = self.newest_of(snaps).await;
            return newest.remove(source_key);
        }
        let r = self.index.lock().get(source_key).cloned()?;
        let current = self.store.get(source_key).await.ok()?;
        (current.id == r.source_id).then_some(r)
    }

    /// Compacts the stream at `source_key` up to its current tail.
    pub async fn compact(&self, source_key: &str) -> Result<Compacted, CompactError> {
        let _one = self.running.lock().await;
        let source = self.store.get(source_key).await?;
        if !source.is_json() {
            return Err(CompactError::NotJson);
        }
        let tail = source.visible().tail;
        let base = self.newest(source_key).await;
        if let Some(b) = base.as_ref().filter(|b| b.pos == tail) {
            let bytes = self.store.get(&b.key).await.map_or(0, |s| s.visible().tail);
            return Ok(Compacted {
                snapshot: b.clone(),
                created: false,
                counts: Counts::default(),
                entities: 0,
                bytes,
            });
        }
        let base_stream = match &base {
            Some(b) => Some((self.store.get(&b.key).await?, b.pos)),
            None => None,
        };
        let max = self.config.max_bytes;
        let src = source.clone();
        let built = tokio::task::spawn_blocking(move || materialize(&src, base_stream, tail, max))
            .await
            .map_err(|e| CompactError::Internal(format!("compaction task failed: {e}")))??;
        let (body, counts, entities) = built;
        faults::crash("compact-before-publish");
        let key = names::key(source_key, tail);
        let req = CreateRequest {
            path: key.clone(),
            content_type: Some("application/json".to_string()),
            closed: true,
            body: Bytes::from(body),
            ..CreateRequest::default()
        };
        let (snap, _) = self.store.create(req).await?;
        faults::crash("compact-after-publish");
        // The source was deleted (and maybe re-created) meanwhile: the snapshot is of nothing.
        if self.store.get(source_key).await.map(|s| s.id).ok() != Some(source.id) {
            self.remove_snapshot(&key).await;
            return Err(CompactError::NotFound);
        }
        let new = SnapshotRef { pos: tail, key: key.clone(), source_id: source.id };
        let old = self.index.lock().insert(source_key.to_string(), new.clone());
        for old in [old, base].into_iter().flatten().filter(|o| o.key != key) {
            self.remove_snapshot(&old.key).await;
        }
        if self.config.trim {
            self.store.trim(&source, tail).await?;
        }
        let bytes = snap.visible().tail;
        Ok(Compacted { snapshot: new, created: true, counts, entities, bytes })
    }

    async fn remove_snapshot(&self, key: &str) {
        match self.store.delete(key).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => tracing::warn!(snapshot = key, "cannot delete an old snapshot: {e}"),
        }
    }

    /// Drops snapshots of deleted or re-created streams; with `auto_bytes`, compacts the
    /// streams that grew past it since their newest snapshot.
    pub async fn sweep(&self) {
        if let Backend::Postgres(_) = &self.store {
            // Other nodes publish snapshots too: the database is the index.
            self.rescan().await;
            return;
        }
        let entries: Vec<(String, SnapshotRef)> =
            self.index.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (source_key, r) in entries {
            let alive = self.store.get(&source_key).await.map(|s| s.id).ok() == Some(r.source_id);
            if !alive {
                let removed = {
                    let mut index = self.index.lock();
                    match index.get(&source_key) {
                        Some(cur) if *cur == r => index.remove(&source_key),
                        _ => None,
                    }
                };
                if let Some(r) = removed {
                    self.remove_snapshot(&r.key).await;
                }
            }
        }
        if let Some(every) = self.config.auto_bytes {
            for key in self.due(every) {
                match self.compact(&key).await {
                    Ok(c) => tracing::debug!(stream = key, offset = c.snapshot.pos, "compacted"),
                    Err(CompactError::NotState { .. } | CompactError::NotJson) => {
                        if let Ok(s) = self.store.get(&key).await {
                            self.not_state.lock().insert(key, s.id);
                        }
                    }
                    Err(e) => tracing::debug!(stream = key, "automatic compaction skipped: {e}"),
                }
            }
        }
    }

    /// JSON streams under the prefix that grew by `every` bytes since their newest snapshot.
    fn due(&self, every: u64) -> Vec<String> {
        let Some(store) = self.store.local() else { return Vec::new() };
        let prefix = format!("{}/", self.prefix);
        let index = self.index.lock();
        let not_state = self.not_state.lock();
        store
            .snapshot_streams()
            .into_iter()
            .filter(|s| s.meta.path.starts_with(&prefix) && s.is_json())
            .filter(|s| not_state.get(&s.meta.path) != Some(&s.id))
            .filter(|s| {
                let base =
                    index.get(&s.meta.path).filter(|r| r.source_id == s.id).map_or(0, |r| r.pos);
                s.visible().tail.saturating_sub(base) >= every
            })
            .map(|s| s.meta.path.clone())
            .collect()
    }

    /// Runs [`Compactor::sweep`] every two seconds until aborted.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let c = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tick.tick().await;
                c.sweep().await;
            }
        })
    }
}

/// The snapshot body of `source` up to `tail`, starting from the previous snapshot when
/// there is one (blocking).
fn materialize(
    source: &Stream,
    base: Option<(Arc<Stream>, u64)>,
    tail: u64,
    max: usize,
) -> Result<(Vec<u8>, Counts, usize), CompactError> {
    let mut state = MaterializedState::new();
    let from = match &base {
        Some((snap, pos)) => {
            let end = snap.visible().tail;
            build::apply_range(snap, 0, end, &mut state, &mut Counts::default())?;
            *pos
        }
        None => 0,
    };
    if from < source.trimmed_before() {
        return Err(CompactError::Internal(
            "the source is trimmed past its newest snapshot".into(),
        ));
    }
    let mut counts = Counts::default();
    build::apply_range(source, from, tail, &mut state, &mut counts)?;
    if state.in_snapshot() {
        return Err(CompactError::OpenSnapshot);
    }
    if base.is_none() && counts.events == 0 && counts.malformed > 0 {
        return Err(CompactError::NotState { malformed: counts.malformed });
    }
    let body = build::snapshot_body(&state, tail, max)?;
    Ok((body, counts, state.total_len()))
}
