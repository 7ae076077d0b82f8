//! Server configuration.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::{AuthConfig, CorsOrigins};

/// When the write-ahead log is synced to stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Sync before acknowledging every group of writes (group commit). An acknowledged
    /// write survives process crashes and power loss. The default.
    Always,
    /// Acknowledge after handing the write to the OS; sync in the background at this
    /// interval. Survives a process crash (`kill -9`); a power loss can lose the writes
    /// of the last interval.
    Interval(Duration),
    /// Never sync except at checkpoints and shutdown. Survives a process crash; a power
    /// loss can lose any write since the last checkpoint.
    Never,
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsyncPolicy::Always => f.write_str("always"),
            FsyncPolicy::Interval(d) => write!(f, "interval {} ms", d.as_millis()),
            FsyncPolicy::Never => f.write_str("never"),
        }
    }
}

/// Everything `Server::start` needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    pub bind: SocketAddr,
    /// Data directory of the file engine; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// URL path under which streams live (`/` for the root).
    pub prefix: String,
    /// How long a long-poll waits for data before answering 204.
    pub long_poll_timeout: Duration,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Largest catch-up response body; longer reads are cut (without `Stream-Up-To-Date`).
    pub max_read_bytes: usize,
    /// Catch-up bodies of binary streams of at least this many bytes are sent from the
    /// data file with `sendfile` (file engine, plain HTTP/1.1); 0 never.
    pub sendfile_min_bytes: usize,
    /// Send buffer asked for a connection's socket when a body is sent with `sendfile`
    /// (0: the kernel's autotuning).
    pub sendfile_socket_buffer_bytes: usize,
    /// Memory for SSE data events shared by the readers of a stream (each append is framed
    /// once, then sent to every reader); past it the cache starts over.
    pub sse_shared_bytes: usize,
    /// Durability policy of the file engine.
    pub fsync: FsyncPolicy,
    /// Serve TLS (HTTP/2 and HTTP/1.1 by ALPN) with this certificate and key; plain
    /// HTTP/1.1 and h2c otherwise.
    pub tls: Option<crate::tls::TlsFiles>,
    /// The file engine's log starts a new segment, and a checkpoint trims the log, each
    /// time a segment holds this many bytes.
    pub wal_segment_bytes: u64,
    /// Enables the `/_test/inject-error` fault endpoint (tests only).
    pub test_faults: bool,
    /// SSE connections are closed after this long so caches can collapse readers.
    pub sse_max_duration: Duration,
    /// Allow webhook subscriptions: the server then makes outgoing HTTP requests to URLs
    /// that clients choose (https only, never to private or metadata addresses). Pull-wake
    /// subscriptions are always available.
    pub webhooks: bool,
    /// The development exception: webhook URLs may also be `http://localhost` and
    /// `http://127.0.0.x`. Never enable on a server reachable by untrusted clients.
    pub allow_localhost_webhooks: bool,
    /// Public base URL (`https://host[:port]`) for the callback and JWKS URLs the server
    /// hands out; without it they are built from the creating request's `Host`.
    pub public_url: Option<String>,
    /// Address of the Prometheus metrics listener (`GET /metrics`); `None`: no metrics.
    pub metrics_bind: Option<SocketAddr>,
    /// Serve the web console at `/_console` (implies `admin_api`).
    pub console: bool,
    /// Serve the stream listing `{prefix}/__ds/streams`: it reveals every stream's path.
    pub admin_api: bool,
    /// Token authentication; `None` (the default) lets every client do everything.
    pub auth: Option<AuthConfig>,
    /// Browser origins allowed by CORS; `Any` (`*`, the default) is for local development.
    pub cors_origins: CorsOrigins,
    /// Most connections served at once; beyond it the server stops accepting until one
    /// closes (new clients wait in the listen backlog). Lowered at start so that a quarter
    /// of the open-file limit stays free for storage files.
    pub max_connections: usize,
    /// Longest wait for a request's headers (slow-header clients are disconnected).
    pub header_read_timeout: Duration,
    /// Longest wait for a whole request body after its headers; then 408 and the
    /// connection closes.
    pub body_read_timeout: Duration,
    /// Request-body bytes held at once across all requests (at least `max_body_bytes`);
    /// a request that would pass it gets 503 with `Retry-After`.
    pub max_inflight_body_bytes: usize,
    /// Most subscriptions; creating one more gets 409 `LIMIT_EXCEEDED`.
    pub max_subscriptions: usize,
    /// Most stream links per subscription (explicit and pattern links together); an
    /// explicit link past it gets 409 `LIMIT_EXCEEDED`, a pattern match past it is skipped.
    pub max_subscription_links: usize,
    /// With a shared database: how long a node's lease on a subscription (the right to run
    /// its deliveries) lasts without renewal; a dead node's subscriptions pass to another
    /// node after it.
    pub subscription_lease: std::time::Duration,
    /// Keep streams in this PostgreSQL database instead of `data_dir` (several nodes may
    /// share it).
    pub postgres: Option<crate::store::postgres::PgOptions>,
    /// State Protocol compaction (`docs/state-compaction.md`); off (`None`) by default.
    pub state_compaction: Option<crate::compact::CompactConfig>,
}

impl Config {
    /// An in-memory server on a free loopback port (for tests and embedding).
    pub fn memory() -> Config {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            prefix: "/v1/stream".to_string(),
            long_poll_timeout: Duration::from_secs(30),
            max_body_bytes: 64 * 1024 * 1024,
            max_read_bytes: 1024 * 1024,
            sendfile_min_bytes: 64 * 1024,
            sendfile_socket_buffer_bytes: 64 * 1024,
            sse_shared_bytes: 64 * 1024 * 1024,
            fsync: FsyncPolicy::Always,
            tls: None,
            wal_segment_bytes: crate::store::file::wal::SEGMENT_BYTES,
            test_faults: false,
            sse_max_duration: Duration::from_secs(60),
            webhooks: false,
            allow_localhost_webhooks: false,
            public_url: None,
            metrics_bind: None,
            console: false,
            admin_api: false,
            auth: None,
            cors_origins: CorsOrigins::Any,
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            max_inflight_body_bytes: 256 * 1024 * 1024,
            max_subscriptions: 10_000,
            max_subscription_links: 100_000,
            subscription_lease: std::time::Duration::from_secs(10),
            postgres: None,
            state_compaction: None,
        }
    }

    /// A file-backed server storing into `dir`.
    pub fn file(dir: impl Into<PathBuf>) -> Config {
        Config { data_dir: Some(dir.into()), ..Config::memory() }
    }

    /// The same configuration with token authentication turned on.
    pub fn with_auth(self, auth: AuthConfig) -> Config {
        Config { auth: Some(auth), ..self }
    }

    /// The same configuration allowing only these browser origins.
    pub fn with_cors_origins(self, cors_origins: CorsOrigins) -> Config {
        Config { cors_origins, ..self }
    }

    /// The prefix normalised: no trailing slash, empty for the root.
    pub fn prefix_path(&self) -> &str {
        self.prefix.trim_end_matches('/')
    }
}
