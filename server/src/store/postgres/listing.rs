//! The admin listing and the state gauges, read from the database: every node sees every
//! stream, so they answer the same on any node.

use super::row::{StreamRow, COLUMNS};
use super::{db_err, pool_err, PgStore};
use crate::store::{now_ms, rules, StoreError, StreamMeta};

/// One stream of a listing page.
pub struct Listed {
    pub meta: StreamMeta,
    pub tail: u64,
    pub closed: bool,
    pub producers: usize,
}

impl PgStore {
    /// Up to `limit` live streams whose path starts with `starting` and sorts after `after`
    /// (byte order), in that order; and the path to continue after when more follow.
    pub async fn list_streams(
        &self,
        starting: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Listed>, Option<String>), StoreError> {
        let client = self.pool.get().await.map_err(pool_err)?;
        let like = super::subs::like_prefix(starting);
        let sql = format!(
            "SELECT {COLUMNS}, (SELECT count(*) FROM producers p WHERE p.stream_id = s.id) \
             FROM streams s WHERE NOT soft_deleted AND path LIKE $1 \
             AND ($2::text IS NULL OR path COLLATE \"C\" > $2) \
             ORDER BY path COLLATE \"C\" LIMIT $3"
        );
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        let rows = client.query(&sql, &[&like, &after, &fetch]).await.map_err(db_err)?;
        let more = rows.len() > limit;
        let now = now_ms();
        let mut out = Vec::with_capacity(rows.len().min(limit));
        let mut last = None;
        for r in rows.iter().take(limit) {
            let row = StreamRow::from_row(r)?;
            last = Some(row.meta.path.clone());
            if rules::expired(&row.meta, self.last_access(&row), now) {
                continue;
            }
            let producers = usize::try_from(r.get::<_, i64>(COLUMN_COUNT)).unwrap_or(0);
            out.push(Listed { meta: row.meta, tail: row.tail, closed: row.closed, producers });
        }
        Ok((out, if more { last } else { None }))
    }

    /// Streams (soft-deleted ones included) and producers in the database, for the gauges.
    pub async fn counts(&self) -> Result<(u64, u64), StoreError> {
        let client = self.pool.get().await.map_err(pool_err)?;
        let r = client
            .query_one(
                "SELECT (SELECT count(*) FROM streams), (SELECT count(*) FROM producers)",
                &[],
            )
            .await
            .map_err(db_err)?;
        let n = |i: usize| u64::try_from(r.get::<_, i64>(i)).unwrap_or(0);
        Ok((n(0), n(1)))
    }
}

/// Columns in [`COLUMNS`]: the producer count follows them.
const COLUMN_COUNT: usize = 12;

#[cfg(test)]
mod tests {
    #[test]
    fn the_producer_count_follows_the_columns() {
        assert_eq!(super::COLUMNS.split(',').count(), super::COLUMN_COUNT);
    }
}
