//! A stream's row: what `SELECT {COLUMNS}` returns, as the rules' types.

use tokio_postgres::Row;

use crate::store::{ProducerStamp, StoreError, StreamMeta, WriterState};

/// The columns every stream query selects, in [`StreamRow::from_row`]'s order.
pub const COLUMNS: &str =
    "id, path, meta, tail, closed, closed_by, stream_seq, soft_deleted, forks, last_access, source_id, \
     trimmed_before";

/// One row of `streams`.
#[derive(Debug)]
pub struct StreamRow {
    pub id: i64,
    pub meta: StreamMeta,
    pub tail: u64,
    pub closed: bool,
    pub closed_by: Option<ProducerStamp>,
    pub stream_seq: Option<String>,
    pub soft_deleted: bool,
    pub forks: u32,
    pub last_access: i64,
    pub source_id: Option<i64>,
    /// Positions before this one were trimmed by state compaction.
    pub trimmed_before: u64,
}

fn bad_row(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(std::io::Error::other(format!("unreadable stream row: {e}")))
}

/// A stored offset (`bigint`) as a position.
pub fn pos(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A position as a stored `bigint`.
pub fn col(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl StreamRow {
    pub fn from_row(r: &Row) -> Result<StreamRow, StoreError> {
        let meta: String = r.get(2);
        let closed_by: Option<String> = r.get(5);
        Ok(StreamRow {
            id: r.get(0),
            meta: serde_json::from_str(&meta).map_err(bad_row)?,
            tail: pos(r.get(3)),
            closed: r.get(4),
            closed_by: closed_by.map(|c| serde_json::from_str(&c)).transpose().map_err(bad_row)?,
            stream_seq: r.get(6),
            soft_deleted: r.get(7),
            forks: u32::try_from(r.get::<_, i32>(8)).unwrap_or(0),
            last_access: r.get(9),
            source_id: r.get(10),
            trimmed_before: pos(r.get(11)),
        })
    }

    /// The rules' state without producers (creation and deletion read no producer).
    pub fn writer(&self) -> WriterState {
        WriterState {
            tail: self.tail,
            closed: self.closed,
            closed_by: self.closed_by.clone(),
            stream_seq: self.stream_seq.clone(),
            producers: Default::default(),
            soft_deleted: self.soft_deleted,
        }
    }
}

/// A producer stamp as stored in `closed_by`.
pub fn stamp_text(p: &Option<ProducerStamp>) -> Option<String> {
    p.as_ref().map(|p| serde_json::to_string(p).expect("a producer stamp serializes"))
}
