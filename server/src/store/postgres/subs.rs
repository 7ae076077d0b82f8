//! What subscriptions kept in the database (`subscriptions/shared.rs`) read from it: the
//! facts of linked and matching streams inside the subscription's transaction, the shared
//! webhook signing key, and a wake-up when any node changes a stream.

use deadpool_postgres::{Pool, Transaction};

use super::row::{StreamRow, COLUMNS};
use super::{db_err, PgStore};
use crate::store::{now_ms, rules, StoreError};

/// A live stream's facts, as a subscription sees them.
#[derive(Clone, Debug)]
pub struct Fact {
    /// The store key (`{prefix}/{path}`).
    pub key: String,
    pub id: u64,
    pub base: u64,
    pub tail: u64,
    /// The stream's content type is JSON (a wake stream must be).
    pub json: bool,
}

/// `text` with the `LIKE` wildcards escaped: matches itself only.
pub(super) fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `prefix` as a `LIKE` pattern matching every path that starts with it.
pub(super) fn like_prefix(prefix: &str) -> String {
    like_escape(prefix) + "%"
}

impl PgStore {
    /// The node's connection pool (subscription state lives in the same database).
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Waits until some node changed a stream (an append, close or delete noticed here).
    pub(crate) async fn changed(&self) {
        self.changed.notified().await
    }

    /// Live (not deleted, not expired) streams whose key is in `keys` or starts with
    /// `starting`, read inside `tx`.
    pub(crate) async fn stream_facts(
        &self,
        tx: &Transaction<'_>,
        keys: &[String],
        starting: Option<&str>,
    ) -> Result<Vec<Fact>, StoreError> {
        let like = starting.map(like_prefix);
        let sql = format!(
            "SELECT {COLUMNS} FROM streams WHERE NOT soft_deleted \
             AND (path = ANY($1) OR ($2::text IS NOT NULL AND path LIKE $2))"
        );
        let rows = tx.query(&sql, &[&keys, &like]).await.map_err(db_err)?;
        let now = now_ms();
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let row = StreamRow::from_row(r)?;
            if rules::expired(&row.meta, self.last_access(&row), now) {
                continue;
            }
            out.push(Fact {
                key: row.meta.path.clone(),
                id: u64::try_from(row.id).unwrap_or(0),
                base: row.meta.base,
                tail: row.tail,
                json: durastream::json::is_json(&row.meta.content_type),
            });
        }
        Ok(out)
    }

    /// The value of shared setting `name`, set to `fresh` by the first node that asks.
    pub(crate) async fn shared_setting(
        &self,
        name: &str,
        fresh: &str,
    ) -> Result<String, StoreError> {
        let client = self.pool.get().await.map_err(super::pool_err)?;
        client
            .execute(
                "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &fresh],
            )
            .await
            .map_err(db_err)?;
        let r = client
            .query_one("SELECT value FROM settings WHERE name = $1", &[&name])
            .await
            .map_err(db_err)?;
        Ok(r.get(0))
    }
}

#[cfg(test)]
mod tests {
    use super::like_prefix;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_prefix("/v1/stream/events/"), "/v1/stream/events/%");
        assert_eq!(like_prefix("a_b%c\\"), "a\\_b\\%c\\\\%");
    }
}
