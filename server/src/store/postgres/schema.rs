//! Embedded, versioned schema migrations, applied at start in one transaction under an
//! advisory lock (so nodes starting together migrate once).

use tokio_postgres::Client;

use super::db_err;
use crate::store::StoreError;

/// Lock key of the migration advisory lock ("dura" in ASCII).
const MIGRATION_LOCK: i64 = 0x6475_7261;

/// Every migration, in order; version N is `MIGRATIONS[N - 1]`. Append only.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE streams (
    id           bigserial PRIMARY KEY,
    -- NULL once a soft-deleted stream's path was taken by a new stream.
    path         text UNIQUE,
    -- StreamMeta as JSON: fixed at creation.
    meta         text NOT NULL,
    tail         bigint NOT NULL,
    closed       boolean NOT NULL DEFAULT false,
    closed_by    text,
    stream_seq   text,
    soft_deleted boolean NOT NULL DEFAULT false,
    forks        integer NOT NULL DEFAULT 0,
    source_id    bigint,
    last_access  bigint NOT NULL,
    -- Copies of the meta's expiry, for the sweep's indexes.
    expires_at   bigint,
    ttl_ms       bigint
);
CREATE INDEX streams_expires_at ON streams (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX streams_ttl_end ON streams ((last_access + ttl_ms)) WHERE ttl_ms IS NOT NULL;
CREATE TABLE producers (
    stream_id   bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    producer_id text NOT NULL,
    epoch       bigint NOT NULL,
    seq         bigint NOT NULL,
    PRIMARY KEY (stream_id, producer_id)
);
CREATE TABLE chunks (
    stream_id bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    -- Absolute stream positions: the chunk holds [start_pos, end_pos).
    end_pos   bigint NOT NULL,
    start_pos bigint NOT NULL,
    data      bytea NOT NULL,
    PRIMARY KEY (stream_id, end_pos)
);
-- Small chunks waiting for compaction (compact.rs: SMALL).
CREATE INDEX chunks_small ON chunks (stream_id) WHERE end_pos - start_pos < 65536;
",
    r"
-- Subscriptions (subscriptions/shared.rs): the whole SubState as JSON, and the node lease
-- (which node runs the subscription's deliveries, until when).
CREATE TABLE subscriptions (
    id          text PRIMARY KEY,
    state       text NOT NULL,
    owner       text,
    owner_until bigint NOT NULL DEFAULT 0
);
-- State compaction's trim: positions before it are gone (reads there get 410).
ALTER TABLE streams ADD COLUMN trimmed_before bigint NOT NULL DEFAULT 0;
-- Values every node shares: the webhook signing key's seed.
CREATE TABLE settings (
    name  text PRIMARY KEY,
    value text NOT NULL
);
",
];

/// The schema version this binary writes.
pub const VERSION: i32 = MIGRATIONS.len() as i32;

/// Brings the schema up to [`VERSION`]; refuses a database migrated by a newer binary.
pub async fn migrate(client: &mut Client) -> Result<i32, StoreError> {
    let tx = client.transaction().await.map_err(db_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db_err)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS durastream_schema (version integer PRIMARY KEY, applied_ms bigint NOT NULL)",
    )
    .await
    .map_err(db_err)?;
    let row = tx
        .query_one("SELECT coalesce(max(version), 0) FROM durastream_schema", &[])
        .await
        .map_err(db_err)?;
    let current: i32 = row.get(0);
    if current > VERSION {
        return Err(StoreError::Io(std::io::Error::other(format!(
            "the database schema is version {current}, newer than this binary knows \
             ({VERSION}); run a newer durastream"
        ))));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(sql).await.map_err(db_err)?;
        tx.execute(
            "INSERT INTO durastream_schema (version, applied_ms) VALUES ($1, $2)",
            &[&version, &crate::store::now_ms()],
        )
        .await
        .map_err(db_err)?;
        tracing::info!(version, "applied schema migration");
    }
    tx.commit().await.map_err(db_err)?;
    Ok(VERSION)
}
