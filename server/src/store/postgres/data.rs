//! Reading a stream's bytes back from its chunk rows.

use std::io;

use bytes::{Bytes, BytesMut};
use deadpool_postgres::Pool;

use super::row::col;
use crate::store::Data;

/// Reads the chunks overlapping `[pos, end)` of stream `id` and stitches the range.
/// Both bounds of the scan use the `(stream_id, end_pos)` key, so a read costs the chunks
/// it returns, however long the stream.
pub async fn read_range(pool: &Pool, id: i64, pos: u64, end: u64) -> io::Result<Bytes> {
    if end <= pos {
        return Ok(Bytes::new());
    }
    let client = pool.get().await.map_err(io::Error::other)?;
    let stmt = client
        .prepare_cached(
            "SELECT start_pos, data FROM chunks WHERE stream_id = $1 AND end_pos > $2 \
             AND end_pos <= (SELECT min(end_pos) FROM chunks WHERE stream_id = $1 AND end_pos >= $3) \
             ORDER BY end_pos",
        )
        .await
        .map_err(io::Error::other)?;
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

/// A stream's bytes in the database. `Data` is synchronous (the file engine reads pages
/// in place), so a read leaves the async worker with `block_in_place` while it waits.
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
}
