//! The storage boundary the HTTP layer uses: one stream operation per method.
//!
//! Both backends run the same protocol rules (`rules.rs`). [`Backend::Local`] keeps every
//! stream's state in this process (file and memory engines) and applies the rules under a
//! per-stream lock; [`Backend::Postgres`] applies them inside a database transaction that
//! holds the stream's row, so several nodes can serve the same streams.
//!
//! The database's futures are boxed: an `async fn` over this enum is as large as its
//! largest branch, and every request future that awaits it carries (and moves) that size,
//! so unboxed they would make each local append copy kilobytes of future state.

use std::sync::Arc;

use super::postgres::PgStore;
use super::{AppendRequest, Appended, CreateRequest, Store, StoreError, Stream};

/// Where streams live. Cheap to clone.
#[derive(Clone)]
pub enum Backend {
    /// One process owns every stream (file or memory engine).
    Local(Arc<Store>),
    /// A shared PostgreSQL database; any node serves any stream.
    Postgres(Arc<PgStore>),
}

impl Backend {
    /// Finds a live stream: 404 when missing or expired, 410 when soft-deleted. The handle
    /// carries the stream's durable tail as of this call.
    pub async fn get(&self, path: &str) -> Result<Arc<Stream>, StoreError> {
        match self {
            Backend::Local(s) => s.get(path),
            Backend::Postgres(p) => Box::pin(p.get(path)).await,
        }
    }

    /// Finds a stream to append to: like [`Backend::get`], but a shared database may answer
    /// from this node's handle (the append's transaction re-checks the row).
    pub async fn get_for_append(&self, path: &str) -> Result<Arc<Stream>, StoreError> {
        match self {
            Backend::Local(s) => s.get(path),
            Backend::Postgres(p) => Box::pin(p.get_for_append(path)).await,
        }
    }

    /// Creates a stream, or confirms an identical one (`Ok((stream, false))`).
    pub async fn create(&self, req: CreateRequest) -> Result<(Arc<Stream>, bool), StoreError> {
        match self {
            Backend::Local(s) => s.create(req).await,
            Backend::Postgres(p) => Box::pin(p.create(req)).await,
        }
    }

    /// Appends (and optionally closes), deduplicating producer retries.
    pub async fn append(
        &self,
        stream: &Arc<Stream>,
        req: AppendRequest,
    ) -> Result<Appended, StoreError> {
        match self {
            Backend::Local(s) => s.append(stream, req).await,
            Backend::Postgres(p) => Box::pin(p.append(stream, req)).await,
        }
    }

    /// Deletes a stream: soft when forks still read it.
    pub async fn delete(&self, path: &str) -> Result<(), StoreError> {
        match self {
            Backend::Local(s) => s.delete(path).await,
            Backend::Postgres(p) => Box::pin(p.delete(path)).await,
        }
    }

    /// Records a read for the sliding TTL.
    pub async fn touch(&self, stream: &Arc<Stream>) {
        match self {
            Backend::Local(_) => stream.touch(super::now_ms()),
            Backend::Postgres(p) => Box::pin(p.touch(stream)).await,
        }
    }

    /// Removes every expired stream; run periodically.
    pub async fn sweep_expired(&self) {
        match self {
            Backend::Local(s) => s.sweep_expired(),
            Backend::Postgres(p) => p.sweep_expired().await,
        }
    }

    /// The streams this node has handles to (every stream, for the local store): the ones
    /// a live reader here may wait on.
    pub fn open_streams(&self) -> Vec<Arc<Stream>> {
        match self {
            Backend::Local(s) => s.snapshot_streams(),
            Backend::Postgres(p) => p.open_streams(),
        }
    }

    /// Drops `stream`'s positions before `before` (state compaction's trim): reads there
    /// then get 410.
    pub async fn trim(&self, stream: &Arc<Stream>, before: u64) -> Result<(), StoreError> {
        match self {
            Backend::Local(s) => s.trim(stream, before).await,
            Backend::Postgres(p) => Box::pin(p.trim(stream, before)).await,
        }
    }

    /// Store keys and creation times of the snapshot streams of state compaction (every
    /// source, or the one at `source`).
    pub async fn snapshot_keys(
        &self,
        source: Option<&str>,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        match self {
            Backend::Local(s) => Ok(s
                .snapshot_streams()
                .iter()
                .filter(|st| {
                    crate::compact::names::parse_key(&st.meta.path)
                        .is_some_and(|(src, _)| source.is_none_or(|want| src == want))
                })
                .map(|st| (st.meta.path.clone(), st.meta.created_ms))
                .collect()),
            Backend::Postgres(p) => p.snapshot_keys(source).await,
        }
    }

    /// The in-process store, when streams live in this process (subscriptions, the admin
    /// listing and metrics read it directly).
    pub fn local(&self) -> Option<&Arc<Store>> {
        match self {
            Backend::Local(s) => Some(s),
            Backend::Postgres(_) => None,
        }
    }
}
