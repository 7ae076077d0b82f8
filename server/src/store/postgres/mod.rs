//! The PostgreSQL engine: every node keeps no stream state of its own; each operation runs
//! the protocol rules (`rules.rs`) inside a transaction holding the stream's row.
//!
//! - `schema`: embedded migrations. - `committer`: group commit of appends.
//! - `data`: reading chunk rows. - `live`: LISTEN/NOTIFY and polling for live readers.

mod committer;
mod compact;
mod data;
pub mod listing;
mod live;
mod row;
mod schema;
pub mod subs;
mod trim;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use deadpool_postgres::{Manager, Pool, Transaction};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::NoTls;

use self::row::{col, StreamRow, COLUMNS};
use super::rules::{self, DeletePlan};
use super::stream::State;
use super::{now_ms, AppendRequest, Appended, CreateRequest, StoreError, Stream};

/// Settings of the PostgreSQL engine (`serve --store postgres://...`).
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Connection string, `postgres://user:pass@host:port/db` or key-value form.
    pub url: String,
    /// Connections in this node's pool.
    pub pool_size: usize,
    /// Most appends committed in one transaction.
    pub batch_max: usize,
    /// Appends queued for the committers (all together); more wait for room.
    pub queue: usize,
    /// Committer tasks, each with its own connection and its share of the streams (by id),
    /// so batches of different streams commit in parallel while one stream's appends stay
    /// in arrival order.
    pub committers: usize,
    /// How often tails of streams with live readers are polled (and read times flushed).
    pub poll_interval: Duration,
    /// Handles kept after their last request (idle at most [`KEEP_IDLE_MS`]), so appends
    /// find their stream without a query.
    pub cached_streams: usize,
    /// Wake readers with LISTEN/NOTIFY (off: polling only, as on engines without NOTIFY).
    pub notify: bool,
    /// How often small chunks are merged into larger rows (`None`: never).
    pub compact_interval: Option<Duration>,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> PgOptions {
        PgOptions {
            url: url.into(),
            pool_size: 16,
            batch_max: 1024,
            queue: 16_384,
            committers: 2,
            poll_interval: Duration::from_millis(1000),
            cached_streams: 10_000,
            notify: true,
            compact_interval: Some(Duration::from_secs(5)),
        }
    }
}

/// A database error as a store error (a 500; the node keeps serving).
/// The message carries the SQLSTATE, which [`retryable`] reads.
pub(crate) fn db_err(e: tokio_postgres::Error) -> StoreError {
    let msg = match e.code() {
        Some(code) => format!("database ({}): {e}", code.code()),
        None => format!("database: {e}"),
    };
    StoreError::Io(std::io::Error::other(msg))
}

fn pool_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(std::io::Error::other(format!("database pool: {e}")))
}

/// True for errors a transaction retry resolves: serialization failure (40001), deadlock
/// (40P01), a racing create of the same path.
pub(crate) fn retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Io(io) if {
        let m = io.to_string();
        m.contains("(40001)") || m.contains("(40P01)") || m.contains(RACE)
    })
}

const RACE: &str = "path taken concurrently";

/// How long an unused handle stays cached (see [`PgOptions::cached_streams`]).
const KEEP_IDLE_MS: i64 = 60_000;

/// A handle given out by this node.
struct Entry {
    handle: Weak<Stream>,
    /// Keeps the handle alive between requests (dropped when idle or past the bound), so
    /// an append finds it without reading the stream's row.
    keep: Option<Arc<Stream>>,
}

/// Streams in a shared PostgreSQL database.
pub struct PgStore {
    pool: Pool,
    opts: PgOptions,
    /// One queue per committer; stream `id` goes to `id % len`.
    committers: Vec<mpsc::Sender<committer::Pending>>,
    /// Handles given out by this node, by stream id: live readers wait on them.
    handles: Mutex<HashMap<i64, Entry>>,
    /// Path → id of the handles above (appends skip the lookup; entries may be stale).
    paths: Mutex<HashMap<String, i64>>,
    runtime: tokio::runtime::Handle,
    /// Signalled when a notification or poll shows a stream changed (subscriptions wait).
    changed: tokio::sync::Notify,
}

impl PgStore {
    /// Connects, migrates the schema, and starts the committer and live-reader tasks.
    pub async fn open(opts: PgOptions) -> std::io::Result<Arc<PgStore>> {
        let cfg = tokio_postgres::Config::from_str(&opts.url).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("--store: {e}"))
        })?;
        let pool = Pool::builder(Manager::new(cfg, NoTls))
            .max_size(opts.pool_size.max(opts.committers + 2))
            .build()
            .map_err(std::io::Error::other)?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| std::io::Error::other(format!("cannot connect to the database: {e}")))?;
        let version = schema::migrate(&mut client).await.map_err(std::io::Error::other)?;
        drop(client);
        let n = opts.committers.max(1);
        let mut committers = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = mpsc::channel((opts.queue / n).max(1));
            tokio::spawn(committer::run(pool.clone(), rx, opts.batch_max, opts.notify));
            committers.push(tx);
        }
        let store = Arc::new(PgStore {
            pool,
            opts: opts.clone(),
            committers,
            handles: Mutex::new(HashMap::new()),
            paths: Mutex::new(HashMap::new()),
            runtime: tokio::runtime::Handle::current(),
            changed: tokio::sync::Notify::new(),
        });
        if opts.notify {
            tokio::spawn(live::listen(Arc::downgrade(&store), opts.url.clone()));
        }
        tokio::spawn(live::poll(Arc::downgrade(&store), opts.poll_interval));
        if let Some(every) = opts.compact_interval {
            tokio::spawn(compact::run(Arc::downgrade(&store), every));
        }
        tracing::info!(
            schema = version,
            pool = opts.pool_size,
            notify = opts.notify,
            "opened the PostgreSQL store"
        );
        Ok(store)
    }

    /// A short description for logs.
    pub fn describe(&self) -> String {
        format!("postgres (pool {}, notify {})", self.opts.pool_size, self.opts.notify)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }

    /// This node's handle of a stream row, made if needed; published at the row's tail.
    fn handle<'a>(
        &'a self,
        row: &'a StreamRow,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<Stream>, StoreError>> + Send + 'a>> {
        Box::pin(async move {
            if let Some(h) = self.existing(row.id) {
                h.publish(row.tail, row.closed);
                h.touch(row.last_access);
                h.set_trimmed(row.trimmed_before);
                return Ok(h);
            }
            // A fork reads below its base through its source's handle.
            let source = match row.source_id {
                Some(sid) => {
                    let client = self.client().await?;
                    let sql = format!("SELECT {COLUMNS} FROM streams WHERE id = $1");
                    let r = client.query_opt(&sql, &[&sid]).await.map_err(db_err)?;
                    drop(client);
                    match r {
                        Some(r) => Some(self.handle(&StreamRow::from_row(&r)?).await?),
                        None => None,
                    }
                }
                None => None,
            };
            let data = data::PgData {
                pool: self.pool.clone(),
                id: row.id,
                base: row.meta.base,
                runtime: self.runtime.clone(),
            };
            let state = State { writer: row.writer(), removed: false, forks: row.forks };
            let id = u64::try_from(row.id).unwrap_or(0);
            let h = Arc::new(Stream::new(
                id,
                row.meta.clone(),
                source,
                Box::new(data),
                state,
                row.last_access,
            ));
            h.set_trimmed(row.trimmed_before);
            let mut handles = self.handles.lock();
            if let Some(old) = handles.get(&row.id).and_then(|e| e.handle.upgrade()) {
                old.publish(row.tail, row.closed);
                return Ok(old);
            }
            let keep = (self.opts.cached_streams > 0).then(|| h.clone());
            let entry = Entry { handle: Arc::downgrade(&h), keep };
            handles.insert(row.id, entry);
            drop(handles);
            self.paths.lock().insert(row.meta.path.clone(), row.id);
            Ok(h)
        })
    }

    /// This node's live handle of stream `id`, kept again if it was dropped from the cache.
    fn existing(&self, id: i64) -> Option<Arc<Stream>> {
        let mut handles = self.handles.lock();
        let e = handles.get_mut(&id)?;
        let h = e.handle.upgrade()?;
        if e.keep.is_none() && self.opts.cached_streams > 0 {
            e.keep = Some(h.clone());
        }
        Some(h)
    }

    /// The handles given out by this node that are still in use.
    pub fn open_streams(&self) -> Vec<Arc<Stream>> {
        let handles = self.handles.lock();
        handles.values().filter_map(|e| e.handle.upgrade()).collect()
    }

    /// Finds a live stream (404 missing or expired, 410 soft-deleted).
    pub async fn get(&self, path: &str) -> Result<Arc<Stream>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!("SELECT {COLUMNS} FROM streams WHERE path = $1"))
            .await
            .map_err(db_err)?;
        let r = client.query_opt(&stmt, &[&path]).await.map_err(db_err)?;
        drop(client);
        let row = StreamRow::from_row(&r.ok_or(StoreError::NotFound)?)?;
        let h = self.handle(&row).await?;
        if h.expired(now_ms()) {
            self.expire(row.id).await;
            return Err(StoreError::NotFound);
        }
        if row.soft_deleted {
            return Err(StoreError::Gone);
        }
        Ok(h)
    }

    /// A stream to append to, from this node's handle when it has a live, unexpired one:
    /// the append's transaction locks the row by id, so a stream deleted (or re-created) on
    /// another node is found out there (see [`PgStore::append`]).
    pub async fn get_for_append(&self, path: &str) -> Result<Arc<Stream>, StoreError> {
        // One lock at a time (refresh_live takes `handles` then `paths`).
        let id = self.paths.lock().get(path).copied();
        let cached = id.and_then(|id| self.handles.lock().get(&id)?.handle.upgrade());
        match cached {
            Some(h) if !h.expired(now_ms()) && !h.visible().gone => Ok(h),
            _ => self.get(path).await,
        }
    }

    /// Creates a stream, or confirms an identical one.
    pub async fn create(&self, req: CreateRequest) -> Result<(Arc<Stream>, bool), StoreError> {
        let mut attempt = 0;
        loop {
            match self.try_create(&req).await {
                Err(e) if retryable(&e) && attempt < 5 => attempt += 1,
                other => return other,
            }
        }
    }

    async fn try_create(&self, req: &CreateRequest) -> Result<(Arc<Stream>, bool), StoreError> {
        let now = now_ms();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_err)?;
        let sql = format!("SELECT {COLUMNS} FROM streams WHERE path = $1 FOR UPDATE");
        let mut gone = Vec::new();
        if let Some(r) = tx.query_opt(&sql, &[&req.path]).await.map_err(db_err)? {
            let old = StreamRow::from_row(&r)?;
            let last = self.last_access(&old);
            if !rules::expired(&old.meta, last, now) {
                rules::matches_config(&old.meta, &old.writer(), req)?;
                tx.commit().await.map_err(db_err)?;
                return Ok((self.handle(&old).await?, false));
            }
            gone = remove_in(&tx, old, true).await?;
        }
        let source = match &req.fork {
            Some(f) => {
                let r = tx.query_opt(&sql, &[&f.source_path]).await.map_err(db_err)?;
                Some(StreamRow::from_row(&r.ok_or(StoreError::NotFound)?)?)
            }
            None => None,
        };
        let new = match &source {
            Some(src) => {
                let h = self.handle(src).await?;
                let read = |a, b| h.read(a, b);
                let view = rules::Source {
                    id: u64::try_from(src.id).unwrap_or(0),
                    meta: &src.meta,
                    soft_deleted: src.soft_deleted,
                    last_access_ms: self.last_access(src),
                    tail: src.tail,
                    read: &read,
                };
                rules::plan_create(req, Some(&view), now)?
            }
            None => rules::plan_create(req, None, now)?,
        };
        let meta_text = serde_json::to_string(&new.meta).map_err(std::io::Error::other)?;
        let tail = new.meta.base + new.data.len() as u64;
        let ttl_ms = new.meta.ttl_secs.map(|t| col(t.saturating_mul(1000)));
        let source_id = source.as_ref().map(|s| s.id);
        let inserted = tx
            .query_opt(
                "INSERT INTO streams (path, meta, tail, closed, last_access, source_id, expires_at, ttl_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (path) DO NOTHING RETURNING id",
                &[
                    &req.path,
                    &meta_text,
                    &col(tail),
                    &new.closed,
                    &now,
                    &source_id,
                    &new.meta.expires_at_ms,
                    &ttl_ms,
                ],
            )
            .await
            .map_err(db_err)?;
        let Some(inserted) = inserted else {
            return Err(StoreError::Io(std::io::Error::other(RACE)));
        };
        let id: i64 = inserted.get(0);
        // Subscriptions on other nodes link a new matching stream at once.
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&live::CHANNEL, &live::payload(id, tail, new.closed)],
        )
        .await
        .map_err(db_err)?;
        if !new.data.is_empty() {
            tx.execute(
                "INSERT INTO chunks (stream_id, start_pos, end_pos, data) VALUES ($1, $2, $3, $4)",
                &[&id, &col(new.meta.base), &col(tail), &&new.data[..]],
            )
            .await
            .map_err(db_err)?;
        }
        if let Some(sid) = source_id {
            tx.execute("UPDATE streams SET forks = forks + 1 WHERE id = $1", &[&sid])
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        self.mark_gone(&gone);
        let row = StreamRow {
            id,
            meta: new.meta,
            tail,
            closed: new.closed,
            closed_by: None,
            stream_seq: None,
            soft_deleted: false,
            forks: 0,
            last_access: now,
            source_id,
            trimmed_before: 0,
        };
        Ok((self.handle(&row).await?, true))
    }

    /// Appends through the node's committers (group commit). A handle whose row is gone
    /// (the stream was deleted, perhaps re-created, on another node) is looked up again.
    pub async fn append(
        &self,
        stream: &Arc<Stream>,
        req: AppendRequest,
    ) -> Result<Appended, StoreError> {
        match self.append_to(stream, req.clone()).await {
            Err(StoreError::NotFound) => {
                let fresh = self.get(&stream.meta.path).await?;
                if fresh.id == stream.id {
                    return Err(StoreError::NotFound);
                }
                self.append_to(&fresh, req).await
            }
            other => other,
        }
    }

    async fn append_to(
        &self,
        stream: &Arc<Stream>,
        mut req: AppendRequest,
    ) -> Result<Appended, StoreError> {
        let now = now_ms();
        let body_len = req.body.len();
        let framed = rules::frame_body(&stream.meta.content_type, &req.body, false);
        if let (true, Ok(f)) = (stream.is_json(), &framed) {
            req.body = f.clone();
        }
        let (reply, wait) = oneshot::channel();
        let pending = committer::Pending { stream: stream.clone(), req, framed, now, reply };
        let queue = &self.committers[stream.id as usize % self.committers.len()];
        queue
            .send(pending)
            .await
            .map_err(|_| StoreError::Io(std::io::Error::other("the committer stopped")))?;
        let out = wait
            .await
            .map_err(|_| StoreError::Io(std::io::Error::other("the committer stopped")))??;
        stream.touch(now);
        stream.publish(out.tail, out.closed);
        if out.new_data && body_len > 0 {
            crate::metrics::appended(body_len);
        }
        Ok(out)
    }

    /// Records a read: a stream with a sliding TTL has its read time written at once, so
    /// every node sees the renewal.
    pub async fn touch(&self, stream: &Arc<Stream>) {
        let now = now_ms();
        stream.touch(now);
        if stream.meta.ttl_secs.is_none() {
            return;
        }
        let id = stream.id as i64;
        let res = async {
            let client = self.client().await?;
            client
                .execute(
                    "UPDATE streams SET last_access = greatest(last_access, $2) WHERE id = $1",
                    &[&id, &now],
                )
                .await
                .map_err(db_err)
        };
        if let Err(e) = res.await {
            tracing::warn!(id, "writing a read time failed: {e}");
        }
    }

    /// Deletes a stream (soft while forks read it).
    pub async fn delete(&self, path: &str) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            match self.try_delete(path).await {
                Err(e) if retryable(&e) && attempt < 5 => attempt += 1,
                other => return other,
            }
        }
    }

    async fn try_delete(&self, path: &str) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_err)?;
        let sql = format!("SELECT {COLUMNS} FROM streams WHERE path = $1 FOR UPDATE");
        let r = tx.query_opt(&sql, &[&path]).await.map_err(db_err)?;
        let row = StreamRow::from_row(&r.ok_or(StoreError::NotFound)?)?;
        if rules::expired(&row.meta, self.last_access(&row), now_ms()) {
            let gone = remove_in(&tx, row, false).await?;
            tx.commit().await.map_err(db_err)?;
            self.mark_gone(&gone);
            return Err(StoreError::NotFound);
        }
        rules::plan_delete(&row.writer(), row.forks)?;
        let gone = remove_in(&tx, row, false).await?;
        tx.commit().await.map_err(db_err)?;
        self.mark_gone(&gone);
        Ok(())
    }

    /// Removes an expired stream, once, whichever node gets there first.
    async fn expire(&self, id: i64) {
        if let Err(e) = self.try_expire(id).await {
            tracing::warn!(id, "expiring a stream failed: {e}");
        }
    }

    async fn try_expire(&self, id: i64) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_err)?;
        let sql = format!(
            "SELECT {COLUMNS} FROM streams WHERE id = $1 AND NOT soft_deleted FOR UPDATE SKIP LOCKED"
        );
        let Some(r) = tx.query_opt(&sql, &[&id]).await.map_err(db_err)? else {
            return Ok(());
        };
        let row = StreamRow::from_row(&r)?;
        if !rules::expired(&row.meta, self.last_access(&row), now_ms()) {
            return Ok(());
        }
        let gone = remove_in(&tx, row, false).await?;
        tx.commit().await.map_err(db_err)?;
        self.mark_gone(&gone);
        Ok(())
    }

    /// Removes expired streams (a page per call); run periodically on every node.
    pub async fn sweep_expired(&self) {
        let ids = async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT id FROM streams WHERE NOT soft_deleted AND \
                     (expires_at <= $1 OR (ttl_ms IS NOT NULL AND last_access + ttl_ms <= $1)) LIMIT 100",
                    &[&now_ms()],
                )
                .await
                .map_err(db_err)?;
            Ok::<Vec<i64>, StoreError>(rows.iter().map(|r| r.get(0)).collect())
        };
        match ids.await {
            Ok(ids) => {
                for id in ids {
                    self.expire(id).await;
                }
            }
            Err(e) => tracing::warn!("expiry sweep failed: {e}"),
        }
    }

    /// The later of the row's read time and this node's (reads are written lazily).
    fn last_access(&self, row: &StreamRow) -> i64 {
        let local = self
            .handles
            .lock()
            .get(&row.id)
            .and_then(|e| e.handle.upgrade())
            .map_or(0, |h| h.last_access_ms.load(Ordering::Relaxed));
        row.last_access.max(local)
    }

    fn mark_gone(&self, ids: &[i64]) {
        let mut handles = self.handles.lock();
        for id in ids {
            if let Some(e) = handles.get_mut(id) {
                e.keep = None;
                if let Some(h) = e.handle.upgrade() {
                    h.mark_gone();
                }
            }
        }
    }

    /// Drops the kept handles idle past [`KEEP_IDLE_MS`], then the least recently used
    /// past `cached_streams`.
    fn trim_kept(&self, handles: &mut HashMap<i64, Entry>) {
        let cutoff = now_ms() - KEEP_IDLE_MS;
        let used = |h: &Arc<Stream>| h.last_access_ms.load(Ordering::Relaxed);
        let mut kept = Vec::new();
        for (id, e) in handles.iter_mut() {
            match &e.keep {
                Some(h) if used(h) < cutoff => e.keep = None,
                Some(h) => kept.push((used(h), *id)),
                None => {}
            }
        }
        if kept.len() > self.opts.cached_streams {
            kept.sort_unstable();
            let extra = kept.len() - self.opts.cached_streams;
            for (_, id) in &kept[..extra] {
                if let Some(e) = handles.get_mut(id) {
                    e.keep = None;
                }
            }
        }
    }

    /// Applies a notification from any node.
    fn on_note(&self, note: live::Note) {
        self.changed.notify_one();
        match note {
            live::Note::Tail { id, tail, closed } => {
                if let Some(h) = self.handles.lock().get(&id).and_then(|e| e.handle.upgrade()) {
                    h.publish(tail, closed);
                }
            }
            live::Note::Gone { id } => self.mark_gone(&[id]),
        }
    }

    /// Reads the tails of every stream with live readers here; drops dead handles.
    async fn refresh_live(&self) {
        let ids: Vec<i64> = {
            let mut handles = self.handles.lock();
            self.trim_kept(&mut handles);
            handles.retain(|_, e| e.handle.strong_count() > 0);
            self.paths.lock().retain(|_, id| handles.contains_key(id));
            handles
                .iter()
                .filter(|(_, e)| e.handle.upgrade().is_some_and(|h| h.visible.receiver_count() > 0))
                .map(|(id, _)| *id)
                .collect()
        };
        if ids.is_empty() {
            return;
        }
        let rows = async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT id, tail, closed, soft_deleted FROM streams WHERE id = ANY($1)",
                )
                .await
                .map_err(db_err)?;
            client.query(&stmt, &[&ids]).await.map_err(db_err)
        };
        let rows = match rows.await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("polling stream tails failed: {e}");
                return;
            }
        };
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            let id: i64 = r.get(0);
            seen.insert(id);
            if r.get::<_, bool>(3) {
                self.mark_gone(&[id]);
            } else {
                self.on_note(live::Note::Tail { id, tail: row::pos(r.get(1)), closed: r.get(2) });
            }
        }
        let missing: Vec<i64> = ids.into_iter().filter(|id| !seen.contains(id)).collect();
        self.mark_gone(&missing);
    }
}

/// Deletes `row` inside `tx` (locked by the caller): soft while forks read it, with the
/// cascade to soft-deleted sources losing their last fork. `detach` frees the path for a
/// new stream (a create over an expired one). Returns the ids whose readers must stop.
async fn remove_in(
    tx: &Transaction<'_>,
    row: StreamRow,
    detach: bool,
) -> Result<Vec<i64>, StoreError> {
    let mut gone = Vec::new();
    let plan = rules::plan_delete(&row.writer(), row.forks);
    if !matches!(plan, Ok(DeletePlan::Remove)) {
        tx.execute(
            "UPDATE streams SET soft_deleted = true, path = CASE WHEN $2 THEN NULL ELSE path END WHERE id = $1",
            &[&row.id, &detach],
        )
        .await
        .map_err(db_err)?;
        notify_gone(tx, row.id).await?;
        gone.push(row.id);
        return Ok(gone);
    }
    tx.execute("DELETE FROM streams WHERE id = $1", &[&row.id]).await.map_err(db_err)?;
    notify_gone(tx, row.id).await?;
    gone.push(row.id);
    let mut next = row.source_id;
    while let Some(sid) = next {
        let r = tx
            .query_opt(
                "UPDATE streams SET forks = greatest(forks - 1, 0) WHERE id = $1 \
                 RETURNING soft_deleted, forks, source_id",
                &[&sid],
            )
            .await
            .map_err(db_err)?;
        let Some(r) = r else { break };
        let (soft, forks): (bool, i32) = (r.get(0), r.get(1));
        if !(soft && forks == 0) {
            break;
        }
        tx.execute("DELETE FROM streams WHERE id = $1", &[&sid]).await.map_err(db_err)?;
        notify_gone(tx, sid).await?;
        gone.push(sid);
        next = r.get(2);
    }
    Ok(gone)
}

async fn notify_gone(tx: &Transaction<'_>, id: i64) -> Result<(), StoreError> {
    tx.execute("SELECT pg_notify($1, $2)", &[&live::CHANNEL, &live::gone_payload(id)])
        .await
        .map_err(db_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::row::stamp_text;
    use super::*;

    #[test]
    fn retryable_errors_are_recognised() {
        let race = StoreError::Io(std::io::Error::other(RACE));
        assert!(retryable(&race));
        assert!(!retryable(&StoreError::NotFound));
        let other = StoreError::Io(std::io::Error::other("database: connection refused"));
        assert!(!retryable(&other));
        let deadlock = StoreError::Io(std::io::Error::other("database (40P01): deadlock"));
        assert!(retryable(&deadlock));
        assert_eq!(stamp_text(&None), None);
    }
}
