//! Header and query parameter names of the protocol.

pub const STREAM_NEXT_OFFSET: &str = "stream-next-offset";
pub const STREAM_UP_TO_DATE: &str = "stream-up-to-date";
pub const STREAM_CLOSED: &str = "stream-closed";
pub const STREAM_CURSOR: &str = "stream-cursor";
pub const STREAM_TTL: &str = "stream-ttl";
pub const STREAM_EXPIRES_AT: &str = "stream-expires-at";
pub const STREAM_SEQ: &str = "stream-seq";
pub const STREAM_FORKED_FROM: &str = "stream-forked-from";
pub const STREAM_FORK_OFFSET: &str = "stream-fork-offset";
pub const STREAM_FORK_SUB_OFFSET: &str = "stream-fork-sub-offset";
pub const STREAM_SSE_DATA_ENCODING: &str = "stream-sse-data-encoding";
pub const PRODUCER_ID: &str = "producer-id";
pub const PRODUCER_EPOCH: &str = "producer-epoch";
pub const PRODUCER_SEQ: &str = "producer-seq";
pub const PRODUCER_EXPECTED_SEQ: &str = "producer-expected-seq";
pub const PRODUCER_RECEIVED_SEQ: &str = "producer-received-seq";
/// State compaction: on a stream's `HEAD` and `GET`, the URL path of its newest snapshot.
pub const STREAM_SNAPSHOT: &str = "stream-snapshot";
/// State compaction: the source offset a snapshot covers (on the source and the snapshot).
pub const STREAM_SNAPSHOT_OFFSET: &str = "stream-snapshot-offset";

/// Every protocol header a browser may send or read (CORS allow and expose lists).
pub const ALL_PROTOCOL: &[&str] = &[
    STREAM_NEXT_OFFSET,
    STREAM_UP_TO_DATE,
    STREAM_CLOSED,
    STREAM_CURSOR,
    STREAM_TTL,
    STREAM_EXPIRES_AT,
    STREAM_SEQ,
    STREAM_FORKED_FROM,
    STREAM_FORK_OFFSET,
    STREAM_FORK_SUB_OFFSET,
    STREAM_SSE_DATA_ENCODING,
    PRODUCER_ID,
    PRODUCER_EPOCH,
    PRODUCER_SEQ,
    PRODUCER_EXPECTED_SEQ,
    PRODUCER_RECEIVED_SEQ,
    STREAM_SNAPSHOT,
    STREAM_SNAPSHOT_OFFSET,
];

/// Query parameter: start offset.
pub const Q_OFFSET: &str = "offset";
/// Query parameter: live mode (`long-poll` or `sse`).
pub const Q_LIVE: &str = "live";
/// Query parameter: echoed cursor.
pub const Q_CURSOR: &str = "cursor";

/// `true` when a `Stream-Closed` style presence header is set (exactly `true`, any case).
pub fn is_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case("true"))
}
