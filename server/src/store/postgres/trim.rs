//! State compaction on PostgreSQL: the trim of a compacted source, and finding snapshots.
//!
//! A snapshot is an ordinary closed stream under the key `snapshot:<pos>:<source key>`,
//! created by one transaction with all its bytes (`PgStore::create`), so it is complete or
//! absent. The trim raises the row's `trimmed_before` and deletes the chunks wholly before
//! it in one transaction; every node's handle takes the trim point from the row on its next
//! lookup, so reads there get 410 on every node.

use super::row::col;
use super::{db_err, pool_err, PgStore};
use crate::store::{StoreError, Stream};

impl PgStore {
    /// Drops `stream`'s positions before `before` (a message boundary at most its tail).
    pub async fn trim(&self, stream: &Stream, before: u64) -> Result<(), StoreError> {
        if before <= stream.trimmed_before() {
            return Ok(());
        }
        let id = i64::try_from(stream.id).unwrap_or(i64::MAX);
        let mut client = self.pool.get().await.map_err(pool_err)?;
        let tx = client.transaction().await.map_err(db_err)?;
        let r = tx
            .query_opt(
                "UPDATE streams SET trimmed_before = greatest(trimmed_before, $2) \
                 WHERE id = $1 AND tail >= $2 RETURNING trimmed_before",
                &[&id, &col(before)],
            )
            .await
            .map_err(db_err)?;
        if r.is_none() {
            return Err(StoreError::bad("cannot trim past the stream's tail (or it is gone)"));
        }
        tx.execute(
            "DELETE FROM chunks WHERE stream_id = $1 AND end_pos <= $2",
            &[&id, &col(before)],
        )
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        stream.set_trimmed(before);
        Ok(())
    }

    /// Keys and creation times of the snapshot streams (`snapshot:` keys), of every source
    /// or of the one at store key `source`.
    pub async fn snapshot_keys(
        &self,
        source: Option<&str>,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let client = self.pool.get().await.map_err(pool_err)?;
        // `snapshot:<pos>:<source>`; the caller parses the keys, so a broader match is harmless.
        let like = match source {
            Some(s) => format!("snapshot:%:{}", super::subs::like_escape(s)),
            None => "snapshot:%".to_string(),
        };
        let rows = client
            .query(
                "SELECT path, meta FROM streams WHERE NOT soft_deleted AND path LIKE $1",
                &[&like],
            )
            .await
            .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let meta: crate::store::StreamMeta = serde_json::from_str(r.get(1))
                .map_err(|e| StoreError::Io(std::io::Error::other(e)))?;
            out.push((r.get(0), meta.created_ms));
        }
        Ok(out)
    }
}
