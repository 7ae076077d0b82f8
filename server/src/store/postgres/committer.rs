//! Group commit: appends queue to committer tasks (each with its share of the streams),
//! which apply the rules to a whole batch inside one transaction (the streams' rows locked
//! in id order), write the batch with one statement, and commit once: two round trips per
//! batch, however many appends it holds.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;

use super::db_err;
use super::row::{col, pos, stamp_text};
use crate::store::rules::{self, AppendPlan, ProducerState, WriterState};
use crate::store::{AppendRequest, Appended, StoreError, Stream};

/// One append waiting for its batch.
pub struct Pending {
    pub stream: Arc<Stream>,
    pub req: AppendRequest,
    /// The body framed before queueing (see `rules::frame_body`).
    pub framed: Result<Bytes, StoreError>,
    pub now: i64,
    pub reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// Runs batches until every sender is gone.
pub async fn run(pool: Pool, mut rx: mpsc::Receiver<Pending>, batch_max: usize, notify: bool) {
    let batch_max = batch_max.max(1);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < batch_max {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let work: Vec<Work> = batch
            .into_iter()
            .map(|mut p| {
                // Framing fails only with a bad request; kept as text so a retried batch can
                // apply the rules again.
                let framed =
                    std::mem::replace(&mut p.framed, Ok(Bytes::new())).map_err(|e| e.to_string());
                Work { id: p.stream.id as i64, framed, p: Some(p) }
            })
            .collect();
        let mut result = commit_batch(&pool, &work, notify).await;
        let mut attempt = 0;
        // Deadlocks and serialization failures roll back the whole batch: run it again.
        while attempt < 5 && result.as_ref().is_err_and(super::retryable) {
            attempt += 1;
            result = commit_batch(&pool, &work, notify).await;
        }
        match result {
            Ok(outs) => {
                for (w, out) in work.into_iter().zip(outs) {
                    if let Some(p) = w.p {
                        let _ = p.reply.send(out);
                    }
                }
            }
            Err(e) => {
                tracing::error!(appends = work.len(), "append batch failed: {e}");
                let msg = e.to_string();
                for w in work {
                    if let Some(p) = w.p {
                        let _ =
                            p.reply.send(Err(StoreError::Io(std::io::Error::other(msg.clone()))));
                    }
                }
            }
        }
    }
}

struct Work {
    id: i64,
    framed: Result<Bytes, String>,
    p: Option<Pending>,
}

/// What a batch writes for one stream.
#[derive(Default)]
struct Change {
    /// First position written and the bytes from there.
    start: u64,
    bytes: BytesMut,
    changed: bool,
}

/// Locks the batch's stream rows and reads the producers it names (one statement each).
const LOCK: &str = "SELECT id, tail, closed, closed_by, stream_seq, soft_deleted FROM streams \
                    WHERE id = ANY($1) ORDER BY id FOR UPDATE";
const PRODUCERS: &str = "SELECT stream_id, producer_id, epoch, seq FROM producers \
                         WHERE stream_id = ANY($1) AND producer_id = ANY($2)";
/// Every write of a batch in one statement: chunk rows, producer states, stream rows and
/// the wake-up notes. Data-modifying CTEs always run to completion; the final `SELECT`
/// sends the notes (an empty array when NOTIFY is off).
const WRITE: &str = "WITH c AS (INSERT INTO chunks (stream_id, start_pos, end_pos, data) \
       SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::bytea[])), \
     p AS (INSERT INTO producers (stream_id, producer_id, epoch, seq) \
       SELECT * FROM unnest($5::int8[], $6::text[], $7::int8[], $8::int8[]) \
       ON CONFLICT (stream_id, producer_id) DO UPDATE SET epoch = EXCLUDED.epoch, seq = EXCLUDED.seq), \
     s AS (UPDATE streams s SET tail = u.tail, closed = u.closed, closed_by = u.closed_by, \
       stream_seq = u.stream_seq, last_access = greatest(s.last_access, $14) \
       FROM unnest($9::int8[], $10::int8[], $11::bool[], $12::text[], $13::text[]) \
       AS u(id, tail, closed, closed_by, stream_seq) WHERE s.id = u.id) \
     SELECT pg_notify('durastream', n) FROM unnest($15::text[]) AS n";

/// Commits one batch in two round trips: `BEGIN`, the row locks and the producer read
/// pipelined; the rules applied here; then the write statement and `COMMIT` pipelined.
async fn commit_batch(
    pool: &Pool,
    work: &[Work],
    notify: bool,
) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
    let client = pool.get().await.map_err(|e| StoreError::Io(std::io::Error::other(e)))?;
    match in_transaction(&client, work, notify).await {
        Ok(outs) => Ok(outs),
        Err(e) => {
            // No transaction may stay open on a pooled connection; one that cannot even
            // roll back leaves the pool.
            if client.batch_execute("ROLLBACK").await.is_err() {
                drop(deadpool_postgres::Object::take(client));
            }
            Err(e)
        }
    }
}

async fn in_transaction(
    client: &deadpool_postgres::Object,
    work: &[Work],
    notify: bool,
) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
    let mut ids: Vec<i64> = work.iter().map(|w| w.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut names: Vec<&str> = work
        .iter()
        .filter_map(|w| w.p.as_ref()?.req.producer.as_ref().map(|s| s.id.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let lock = client.prepare_cached(LOCK).await.map_err(db_err)?;
    let read_producers = client.prepare_cached(PRODUCERS).await.map_err(db_err)?;
    let write = client.prepare_cached(WRITE).await.map_err(db_err)?;
    // Round trip 1. Pipelined statements run in order: the producers are read with the
    // rows already locked.
    let producer_rows = async {
        if names.is_empty() {
            Ok(Vec::new())
        } else {
            client.query(&read_producers, &[&ids, &names]).await
        }
    };
    let lock_args: [&(dyn ToSql + Sync); 1] = [&ids];
    let ((), rows, producer_rows) = futures_util::try_join!(
        client.batch_execute("BEGIN"),
        client.query(&lock, &lock_args),
        producer_rows
    )
    .map_err(db_err)?;
    let mut states: HashMap<i64, WriterState> = HashMap::with_capacity(rows.len());
    for r in &rows {
        let closed_by: Option<String> = r.get(3);
        let st = WriterState {
            tail: pos(r.get(1)),
            closed: r.get(2),
            closed_by: closed_by.and_then(|c| serde_json::from_str(&c).ok()),
            stream_seq: r.get(4),
            producers: HashMap::new(),
            soft_deleted: r.get(5),
        };
        states.insert(r.get(0), st);
    }
    for r in &producer_rows {
        if let Some(st) = states.get_mut(&r.get::<_, i64>(0)) {
            let p = ProducerState { epoch: pos(r.get(2)), last_seq: pos(r.get(3)) };
            st.producers.insert(r.get(1), p);
        }
    }
    // The rules, in arrival order, over the locked rows.
    let mut changes: BTreeMap<i64, Change> = BTreeMap::new();
    let mut producers: BTreeMap<(i64, &str), ProducerState> = BTreeMap::new();
    let mut outs = Vec::with_capacity(work.len());
    for w in work.iter() {
        let Some(p) = w.p.as_ref() else {
            outs.push(Err(StoreError::NotFound));
            continue;
        };
        let framed = w.framed.clone().map_err(StoreError::BadRequest);
        let Some(st) = states.get_mut(&w.id) else {
            outs.push(Err(StoreError::NotFound));
            continue;
        };
        match rules::plan_append(st, &p.stream.meta, &p.req, framed) {
            Err(e) => outs.push(Err(e)),
            Ok(AppendPlan::Answer(a)) => outs.push(Ok(a)),
            Ok(AppendPlan::Write { pos, data }) => {
                // Consecutive appends to one stream become one chunk row.
                let c = changes.entry(w.id).or_default();
                if !c.changed {
                    c.start = pos;
                    c.changed = true;
                }
                c.bytes.extend_from_slice(&data);
                let out = rules::commit_append(st, &p.req, data.len() as u64);
                if let Some(s) = &p.req.producer {
                    producers.insert(
                        (w.id, s.id.as_str()),
                        ProducerState { epoch: s.epoch, last_seq: s.seq },
                    );
                }
                outs.push(Ok(out));
            }
        }
    }
    if changes.is_empty() {
        client.batch_execute("COMMIT").await.map_err(db_err)?;
        return Ok(outs);
    }
    let now = work.iter().filter_map(|w| Some(w.p.as_ref()?.now)).max().unwrap_or(0);
    let (mut c_id, mut c_start, mut c_end, mut c_data) = (vec![], vec![], vec![], vec![]);
    let (mut s_id, mut s_tail, mut s_closed, mut s_by, mut s_seq) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut tails = Vec::with_capacity(changes.len());
    for (id, c) in &changes {
        let st = &states[id];
        if !c.bytes.is_empty() {
            c_id.push(*id);
            c_start.push(col(c.start));
            c_end.push(col(c.start + c.bytes.len() as u64));
            c_data.push(&c.bytes[..]);
        }
        s_id.push(*id);
        s_tail.push(col(st.tail));
        s_closed.push(st.closed);
        s_by.push(stamp_text(&st.closed_by));
        s_seq.push(st.stream_seq.as_deref());
        tails.push((*id, st.tail, st.closed));
    }
    let (mut p_sid, mut p_name, mut p_epoch, mut p_seq) = (vec![], vec![], vec![], vec![]);
    for ((id, name), ps) in &producers {
        p_sid.push(*id);
        p_name.push(*name);
        p_epoch.push(col(ps.epoch));
        p_seq.push(col(ps.last_seq));
    }
    // One note per batch (split only past NOTIFY's payload limit), not one per append.
    let notes = if notify { super::live::payloads(&tails) } else { Vec::new() };
    // Round trip 2: a failed write leaves the transaction aborted, and the pipelined
    // `COMMIT` then rolls it back; the error is reported either way.
    let write_args: [&(dyn ToSql + Sync); 15] = [
        &c_id, &c_start, &c_end, &c_data, &p_sid, &p_name, &p_epoch, &p_seq, &s_id, &s_tail,
        &s_closed, &s_by, &s_seq, &now, &notes,
    ];
    let (_, ()) =
        futures_util::try_join!(client.query(&write, &write_args), client.batch_execute("COMMIT"),)
            .map_err(db_err)?;
    Ok(outs)
}
