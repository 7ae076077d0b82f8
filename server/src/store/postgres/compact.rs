//! Background compaction: runs of small consecutive chunks (one per group-commit batch)
//! are merged into rows of up to [`TARGET`] bytes, so catch-up reads of long streams fetch
//! few rows. Readers see the old rows or the merged one (each read is one statement); two
//! nodes never merge the same rows (`FOR UPDATE SKIP LOCKED`).

use std::sync::Weak;
use std::time::Duration;

use bytes::BytesMut;
use deadpool_postgres::Pool;

use super::{db_err, pool_err, PgStore};
use crate::store::StoreError;

/// Chunks smaller than this are merged (matches the `chunks_small` index).
pub const SMALL: i64 = 64 * 1024;
/// Largest merged chunk.
const TARGET: usize = 1024 * 1024;
/// Small chunks read per stream and pass (at most `ROWS * SMALL` bytes in memory).
const ROWS: i64 = 256;
/// Streams looked at per pass.
const STREAMS: i64 = 16;

/// Compacts every `interval` until the store is dropped.
pub async fn run(store: Weak<PgStore>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(s) = store.upgrade() else { return };
        if let Err(e) = pass(&s.pool).await {
            tracing::warn!("chunk compaction failed: {e}");
        }
    }
}

/// One pass: the streams with the most small chunks first. Returns chunks merged away.
pub async fn pass(pool: &Pool) -> Result<u64, StoreError> {
    let client = pool.get().await.map_err(pool_err)?;
    let rows = client
        .query(
            // The literal bound lets the planner use the `chunks_small` partial index.
            &format!(
                "SELECT stream_id FROM chunks WHERE end_pos - start_pos < {SMALL} \
                 GROUP BY stream_id HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT $1"
            ),
            &[&STREAMS],
        )
        .await
        .map_err(db_err)?;
    drop(client);
    let mut merged = 0;
    for r in rows {
        merged += compact_stream(pool, r.get(0)).await?;
    }
    Ok(merged)
}

async fn compact_stream(pool: &Pool, id: i64) -> Result<u64, StoreError> {
    let mut client = pool.get().await.map_err(pool_err)?;
    let tx = client.transaction().await.map_err(db_err)?;
    let rows = tx
        .query(
            "SELECT start_pos, end_pos, data FROM chunks WHERE stream_id = $1 \
             AND end_pos - start_pos < $2 ORDER BY end_pos LIMIT $3 FOR UPDATE SKIP LOCKED",
            &[&id, &SMALL, &ROWS],
        )
        .await
        .map_err(db_err)?;
    // Runs of contiguous chunks, each at most TARGET bytes.
    let mut runs: Vec<(i64, i64, Vec<i64>, BytesMut)> = Vec::new();
    for r in &rows {
        let (start, end, data): (i64, i64, &[u8]) = (r.get(0), r.get(1), r.get(2));
        match runs.last_mut() {
            Some((_, last_end, ends, bytes))
                if *last_end == start && bytes.len() + data.len() <= TARGET =>
            {
                *last_end = end;
                ends.push(end);
                bytes.extend_from_slice(data);
            }
            _ => runs.push((start, end, vec![end], BytesMut::from(data))),
        }
    }
    let mut merged = 0;
    for (start, end, ends, bytes) in runs.iter().filter(|r| r.2.len() > 1) {
        tx.execute("DELETE FROM chunks WHERE stream_id = $1 AND end_pos = ANY($2)", &[&id, ends])
            .await
            .map_err(db_err)?;
        tx.execute(
            "INSERT INTO chunks (stream_id, start_pos, end_pos, data) VALUES ($1, $2, $3, $4)",
            &[&id, start, end, &&bytes[..]],
        )
        .await
        .map_err(db_err)?;
        merged += ends.len() as u64 - 1;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(merged)
}
