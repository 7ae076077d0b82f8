//! Reading a stream's bytes back from its chunk rows.

use std::io;

use bytes::{Bytes, BytesMut};
use deadpool_postgres::Pool;

use super::row::col;
use crate::store::{Data, ReadFuture};

/// The part of each chunk overlapping `[$2, $3)`, from where it starts. Both bounds of the
/// scan use the `(stream_id, end_pos)` key, so a read costs the chunks it returns, however
/// long the stream; `substring` sends only the overlap, so a read of a few bytes of a large
/// merged chunk holds a few bytes (memory per read is bounded by the range asked for, which
/// the HTTP layer bounds by `--max-read-bytes`). One statement: one snapshot, so a
/// compaction merging these rows meanwhile is seen wholly or not at all.
const READ: &str = "SELECT greatest(start_pos, $2), substring(data FROM \
     (greatest(start_pos, $2) - start_pos + 1)::int4 FOR greatest(least(end_pos, $3) - greatest(start_pos, $2), 0)::int4) \
     FROM chunks WHERE stream_id = $1 AND end_pos > $2 \
     AND end_pos <= (SELECT min(end_pos) FROM chunks WHERE stream_id = $1 AND end_pos >= $3) \
     ORDER BY end_pos";

/// Reads `[pos, end)` of stream `id` from its chunk rows.
pub async fn read_range(pool: &Pool, id: i64, pos: u64, end: u64) -> io::Result<Bytes> {
    if end <= pos {
        return Ok(Bytes::new());
    }
    let client = pool.get().await.map_err(io::Error::other)?;
    let stmt = client.prepare_cached(READ).await.map_err(io::Error::other)?;
    let rows = client.query(&stmt, &[&id, &col(pos), &col(end)]).await.map_err(io::Error::other)?;
    let len = usize::try_from(end - pos).map_err(io::Error::other)?;
    let mut out = BytesMut::with_capacity(len);
    let mut at = pos;
    for r in &rows {
        let start = super::row::pos(r.get(0));
        let data: &[u8] = r.get(1);
        if start > at {
            break;
        }
        let from = usize::try_from(at - start).map_err(io::Error::other)?;
        let upto = data.len().min(from + (len - out.len()));
        if from < upto {
            out.extend_from_slice(&data[from..upto]);
            at += (upto - from) as u64;
        }
    }
    if out.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("stream {id}: bytes {at}..{end} are not stored"),
        ));
    }
    Ok(out.freeze())
}

/// A stream's bytes in the database. Reads from the HTTP layer (catch-up, long-poll, SSE)
/// use [`Data::read_at_async`]; the synchronous [`Data::read_at`] remains for the few
/// callers inside synchronous rules (a fork's boundary check at creation), which leave the
/// worker with `block_in_place` while they wait.
pub struct PgData {
    pub pool: Pool,
    pub id: i64,
    /// The stream's first own position (`Data` addresses from it).
    pub base: u64,
    pub runtime: tokio::runtime::Handle,
}

impl Data for PgData {
    fn write_at(&self, _at: u64, _buf: &[u8]) -> io::Result<()> {
        Err(io::Error::other("PostgreSQL stream data is written by its transactions only"))
    }

    fn read_at(&self, at: u64, len: usize) -> io::Result<Bytes> {
        let pos = self.base + at;
        let fut = read_range(&self.pool, self.id, pos, pos + len as u64);
        tokio::task::block_in_place(|| self.runtime.block_on(fut))
    }

    fn read_at_async(&self, at: u64, len: usize) -> ReadFuture<'_> {
        let pos = self.base + at;
        Box::pin(read_range(&self.pool, self.id, pos, pos + len as u64))
    }
}
