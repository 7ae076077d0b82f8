//! Prometheus metrics, served on their own listener (`--metrics-bind`).
//!
//! The `metrics` facade records; `metrics-exporter-prometheus` renders the text format. The
//! recorder is process-wide and installed only when a server asks for a metrics endpoint:
//! until then every function here returns after one atomic load, so a server without
//! `--metrics-bind` pays nothing on its hot paths.
//!
//! Names follow the Prometheus conventions (`durastream_` prefix, `_total` counters, base
//! units in `_seconds` and `_bytes`). Gauges that describe state (streams, producers, log
//! size) are computed at scrape time by `endpoint.rs` instead of being kept up to date on
//! every request.

mod endpoint;
pub mod request;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use endpoint::Endpoint;

static ENABLED: AtomicBool = AtomicBool::new(false);
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets, 50 µs to 10 s: an `fdatasync` takes ~0.1 ms, a checkpoint seconds.
const SECONDS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];
/// Records per group commit.
const RECORDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];
/// Bytes per group commit (a group holds at most 8 MiB).
const BYTES: &[f64] =
    &[256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 8388608.0];

/// Metric names, in one place so the docs, the endpoint and the tests agree.
pub mod names {
    pub const REQUESTS: &str = "durastream_http_requests_total";
    pub const REQUEST_SECONDS: &str = "durastream_http_request_duration_seconds";
    pub const APPENDS: &str = "durastream_appends_total";
    pub const APPEND_BYTES: &str = "durastream_append_bytes_total";
    pub const READ_BYTES: &str = "durastream_read_bytes_total";
    pub const LIVE_READERS: &str = "durastream_live_readers";
    pub const STREAMS: &str = "durastream_streams";
    pub const PRODUCERS: &str = "durastream_producers";
    pub const FSYNC_SECONDS: &str = "durastream_wal_fsync_duration_seconds";
    pub const GROUP_SECONDS: &str = "durastream_wal_group_commit_duration_seconds";
    pub const GROUP_RECORDS: &str = "durastream_wal_group_commit_records";
    pub const GROUP_BYTES: &str = "durastream_wal_group_commit_bytes";
    pub const WAL_SIZE: &str = "durastream_wal_size_bytes";
    pub const WAL_SEGMENTS: &str = "durastream_wal_segments";
    pub const CHECKPOINT_SECONDS: &str = "durastream_checkpoint_duration_seconds";
    pub const CHECKPOINTS: &str = "durastream_checkpoints_total";
    pub const WEBHOOK_DELIVERIES: &str = "durastream_webhook_deliveries_total";
    pub const WEBHOOK_FAILURES: &str = "durastream_webhook_delivery_failures_total";
    pub const WEBHOOK_RETRIES: &str = "durastream_webhook_retries_total";
    pub const CONNECTIONS_OPEN: &str = "durastream_connections_open";
    pub const CONNECTIONS: &str = "durastream_connections_accepted_total";
    pub const CONNECTION_CAP: &str = "durastream_connections_max";
    pub const CONNECTION_CAP_WAITS: &str = "durastream_connection_cap_waits_total";
    pub const BUILD_INFO: &str = "durastream_build_info";
}

/// True once a metrics endpoint exists (recording is on).
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Counts `n` bytes sent by an SSE reader served outside hyper (see `http::park`).
pub fn sse_bytes(n: usize) {
    if enabled() {
        counter!(names::READ_BYTES, "mode" => "sse").increment(n as u64);
    }
}

/// Counts `n` bytes of a catch-up body sent outside hyper (see `http::sendfile`).
pub fn catch_up_bytes(n: usize) {
    if enabled() {
        counter!(names::READ_BYTES, "mode" => "catch-up").increment(n as u64);
    }
}

/// Installs the process-wide recorder (once) and returns the handle that renders it.
fn install() -> Result<&'static PrometheusHandle, String> {
    if let Some(h) = HANDLE.get() {
        return Ok(h);
    }
    let mut builder = PrometheusBuilder::new().set_enable_unit_suffix(false);
    let buckets = [
        (Matcher::Suffix("_seconds".into()), SECONDS),
        (Matcher::Full(names::GROUP_RECORDS.into()), RECORDS),
        (Matcher::Full(names::GROUP_BYTES.into()), BYTES),
    ];
    for (m, b) in buckets {
        builder = builder.set_buckets_for_metric(m, b).map_err(|e| e.to_string())?;
    }
    let handle = builder.install_recorder().map_err(|e| {
        format!("cannot install the metrics recorder (another one is installed?): {e}")
    })?;
    let handle = HANDLE.get_or_init(|| handle);
    describe();
    ENABLED.store(true, Ordering::SeqCst);
    Ok(handle)
}

/// Help texts, and zero values so every series exists before its first event.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    use names::*;
    describe_counter!(REQUESTS, "HTTP requests answered, by method, route kind and status.");
    describe_histogram!(REQUEST_SECONDS, Unit::Seconds, "Time to the response head.");
    describe_counter!(APPENDS, "Appends that added data.");
    describe_counter!(APPEND_BYTES, Unit::Bytes, "Request body bytes of appends that added data.");
    describe_counter!(READ_BYTES, Unit::Bytes, "Response body bytes of reads, by live mode.");
    describe_gauge!(LIVE_READERS, "Readers waiting for data: long-poll requests, SSE streams.");
    describe_gauge!(STREAMS, "Streams in the store (soft-deleted ones included).");
    describe_gauge!(PRODUCERS, "Idempotent producers known across all streams.");
    describe_histogram!(FSYNC_SECONDS, Unit::Seconds, "Duration of one write-ahead log sync.");
    describe_histogram!(
        GROUP_SECONDS,
        Unit::Seconds,
        "Group commit: from the first record of a group to its acknowledgement."
    );
    describe_histogram!(GROUP_RECORDS, "Records (and barriers) acknowledged per group commit.");
    describe_histogram!(GROUP_BYTES, Unit::Bytes, "Log bytes written per group commit.");
    describe_gauge!(WAL_SIZE, Unit::Bytes, "Size of the write-ahead log segments on disk.");
    describe_gauge!(WAL_SEGMENTS, "Write-ahead log segments on disk.");
    describe_histogram!(CHECKPOINT_SECONDS, Unit::Seconds, "Duration of a checkpoint.");
    describe_counter!(CHECKPOINTS, "Checkpoints, by result (ok, error).");
    describe_counter!(WEBHOOK_DELIVERIES, "Webhook delivery attempts, by outcome.");
    describe_counter!(WEBHOOK_FAILURES, "Webhook delivery attempts that failed.");
    describe_counter!(WEBHOOK_RETRIES, "Webhook delivery attempts that retried a failed one.");
    describe_gauge!(CONNECTIONS_OPEN, "Client connections open now.");
    describe_counter!(CONNECTIONS, "Client connections accepted.");
    describe_gauge!(CONNECTION_CAP, "The connection cap in force (--max-connections).");
    describe_counter!(
        CONNECTION_CAP_WAITS,
        "Times the server stopped accepting because --max-connections were open."
    );
    describe_gauge!(BUILD_INFO, "Always 1; the version label says which build runs.");
    for c in [
        APPENDS,
        APPEND_BYTES,
        WEBHOOK_FAILURES,
        WEBHOOK_RETRIES,
        CONNECTIONS,
        CONNECTION_CAP_WAITS,
    ] {
        counter!(c).absolute(0);
    }
    for mode in ["catch-up", "long-poll", "sse"] {
        counter!(READ_BYTES, "mode" => mode).absolute(0);
    }
    for mode in ["long-poll", "sse"] {
        gauge!(LIVE_READERS, "mode" => mode).increment(0.0);
    }
    for result in ["ok", "error"] {
        counter!(CHECKPOINTS, "result" => result).absolute(0);
    }
    gauge!(CONNECTIONS_OPEN).increment(0.0);
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// An append that added `bytes` bytes of request body.
pub fn appended(bytes: usize) {
    if enabled() {
        counter!(names::APPENDS).increment(1);
        counter!(names::APPEND_BYTES).increment(bytes as u64);
    }
}

/// One write-ahead log sync took `d`.
pub fn fsync_done(d: Duration) {
    if enabled() {
        histogram!(names::FSYNC_SECONDS).record(d.as_secs_f64());
    }
}

/// A group commit acknowledged `records` waiters with `bytes` log bytes, `d` after its first
/// record arrived.
pub fn group_committed(records: usize, bytes: usize, d: Duration) {
    if enabled() && records > 0 {
        histogram!(names::GROUP_SECONDS).record(d.as_secs_f64());
        histogram!(names::GROUP_RECORDS).record(records as f64);
        histogram!(names::GROUP_BYTES).record(bytes as f64);
    }
}

/// A checkpoint finished after `d`.
pub fn checkpoint_done(d: Duration, ok: bool) {
    if enabled() {
        histogram!(names::CHECKPOINT_SECONDS).record(d.as_secs_f64());
        counter!(names::CHECKPOINTS, "result" => if ok { "ok" } else { "error" }).increment(1);
    }
}

/// A webhook delivery attempt ended with `outcome` (`done`, `accepted` or `failed`);
/// `retry` when it repeated a failed attempt.
pub fn webhook_attempt(outcome: &'static str, retry: bool) {
    if enabled() {
        counter!(names::WEBHOOK_DELIVERIES, "outcome" => outcome).increment(1);
        if outcome == "failed" {
            counter!(names::WEBHOOK_FAILURES).increment(1);
        }
        if retry {
            counter!(names::WEBHOOK_RETRIES).increment(1);
        }
    }
}

/// An accepted client connection; closing is counted when the value is dropped.
#[must_use = "the connection counts as open until this is dropped"]
pub struct Connection(bool);

impl Connection {
    /// Counts a newly accepted connection as open.
    pub fn opened() -> Connection {
        let on = enabled();
        if on {
            counter!(names::CONNECTIONS).increment(1);
            gauge!(names::CONNECTIONS_OPEN).increment(1.0);
        }
        Connection(on)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.0 {
            gauge!(names::CONNECTIONS_OPEN).decrement(1.0);
        }
    }
}

/// The connection cap in force.
pub fn connection_cap(cap: usize) {
    if enabled() {
        gauge!(names::CONNECTION_CAP).set(cap as f64);
    }
}

/// The accept loop found every connection slot taken and stops accepting until one frees
/// (new clients wait in the listen backlog).
pub fn connection_cap_reached() {
    if enabled() {
        counter!(names::CONNECTION_CAP_WAITS).increment(1);
    }
}

/// A live reader counted while this value lives.
pub struct LiveReader(Option<&'static str>);

impl LiveReader {
    /// Counts a reader in live `mode` (`long-poll` or `sse`).
    pub fn start(mode: &'static str) -> LiveReader {
        if !enabled() {
            return LiveReader(None);
        }
        gauge!(names::LIVE_READERS, "mode" => mode).increment(1.0);
        LiveReader(Some(mode))
    }
}

impl Drop for LiveReader {
    fn drop(&mut self) {
        if let Some(mode) = self.0 {
            gauge!(names::LIVE_READERS, "mode" => mode).decrement(1.0);
        }
    }
}
