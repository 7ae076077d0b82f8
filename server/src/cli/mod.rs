//! The `durastream` command: the server (`serve`), a command-line client and `bench`.
//!
//! A library module (feature `cli`) so that packages can ship the whole command: the
//! binary's `main` and the Python package's console script both call [`main_with_args`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod bench;
mod cli_client;
mod logging;
#[cfg(feature = "otel")]
mod otel;

use crate::auth::{AuthConfig, CorsOrigins};
use crate::store::postgres::PgOptions;
use crate::{Config, FsyncPolicy};
use clap::builder::FalseyValueParser;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "durastream", version, about = "Durable Streams server and client")]
struct Cli {
    /// Server or stream URL for the client commands (a stream name is joined onto it).
    #[arg(
        long,
        global = true,
        env = "DURASTREAM_URL",
        default_value = "http://127.0.0.1:4437/v1/stream"
    )]
    url: String,
    /// Log line format on standard error: text for people, json (one object per line, with
    /// the request span's fields) for log collectors. DURASTREAM_LOG sets the filter.
    #[arg(long, global = true, env = "DURASTREAM_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: logging::Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Measure a server: append, create, read, latency and fan-out scenarios.
    Bench(bench::BenchArgs),
    #[command(flatten)]
    Client(cli_client::ClientCommand),
    /// Print a shell completion script, e.g. `durastream completions bash > /etc/bash_completion.d/durastream`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// How the file engine syncs its write-ahead log.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Fsync {
    /// Sync before acknowledging each group of writes: an acknowledged append survives
    /// process crashes and power loss. Concurrent writes share one sync.
    Always,
    /// Acknowledge once the OS has the write, sync every --fsync-interval-ms: survives
    /// process crashes; a power loss can lose the last interval.
    Interval,
    /// Sync only at checkpoints and shutdown: survives process crashes only.
    Never,
}

#[derive(Parser)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "DURASTREAM_BIND", default_value = "127.0.0.1:4437")]
    bind: SocketAddr,
    /// Directory of the embedded file engine (created if missing).
    #[arg(long, env = "DURASTREAM_DATA_DIR", default_value = "./durastream-data")]
    data_dir: PathBuf,
    /// Keep everything in memory instead (nothing survives a restart).
    #[arg(long, env = "DURASTREAM_MEMORY", value_parser = FalseyValueParser::new())]
    memory: bool,
    /// Keep streams in PostgreSQL instead of --data-dir: a connection string
    /// (postgres://user:password@host:port/database). Several nodes may share one database
    /// behind a load balancer; the schema is created or migrated at start.
    #[arg(long, env = "DURASTREAM_STORE")]
    store: Option<String>,
    /// PostgreSQL: connections in this node's pool.
    #[arg(long, env = "DURASTREAM_PG_POOL_SIZE", default_value_t = 16)]
    pg_pool_size: usize,
    /// PostgreSQL: most appends committed together in one transaction (group commit).
    #[arg(long, env = "DURASTREAM_PG_BATCH_MAX", default_value_t = 1024)]
    pg_batch_max: usize,
    /// PostgreSQL: appends queued for the committer; further appends wait for room.
    #[arg(long, env = "DURASTREAM_PG_QUEUE", default_value_t = 16_384)]
    pg_queue: usize,
    /// PostgreSQL: committer tasks per node, each committing the batches of its share of the
    /// streams on a connection of its own (one stream's appends stay in order). Fewer
    /// committers make bigger batches: one commit, and its fsync, shared by more appends.
    #[arg(long, env = "DURASTREAM_PG_COMMITTERS", default_value_t = 2)]
    pg_committers: usize,
    /// PostgreSQL: how often this node polls the tails of streams it has live readers on
    /// (the fallback when a notification is missed, or the only way with --pg-no-notify).
    #[arg(long, env = "DURASTREAM_PG_POLL_MS", default_value_t = 1000)]
    pg_poll_ms: u64,
    /// PostgreSQL: stream handles a node keeps after their last request (for up to a
    /// minute idle), so appends skip the lookup of the stream's row; 0 keeps none.
    #[arg(long, env = "DURASTREAM_PG_CACHED_STREAMS", default_value_t = 10_000)]
    pg_cached_streams: usize,
    /// PostgreSQL: do not use LISTEN/NOTIFY (as on engines without it); live readers then
    /// learn of appends made on other nodes by polling every --pg-poll-ms.
    #[arg(long, env = "DURASTREAM_PG_NO_NOTIFY", value_parser = FalseyValueParser::new())]
    pg_no_notify: bool,
    /// PostgreSQL: how often small chunks (one per group commit) are merged into rows of up
    /// to 1 MiB, so catch-up reads of long streams fetch few rows; 0 turns it off.
    #[arg(long, env = "DURASTREAM_PG_COMPACT_MS", default_value_t = 5000)]
    pg_compact_ms: u64,
    /// URL path under which streams live ("/" for the root).
    #[arg(long, env = "DURASTREAM_PREFIX", default_value = "/v1/stream")]
    prefix: String,
    /// How long a long-poll read waits for data before answering 204.
    #[arg(long, env = "DURASTREAM_LONG_POLL_TIMEOUT_MS", default_value_t = 30_000)]
    long_poll_timeout_ms: u64,
    /// Largest request body accepted; larger ones get 413.
    #[arg(long, env = "DURASTREAM_MAX_BODY_BYTES", default_value_t = 64 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Largest catch-up response; longer reads are cut here and continue at the next offset.
    #[arg(long, env = "DURASTREAM_MAX_READ_BYTES", default_value_t = 1024 * 1024)]
    max_read_bytes: usize,
    /// Catch-up responses of binary streams of at least this many bytes are sent from the
    /// data file with sendfile (file engine, plain HTTP/1.1): no copy in the server; 0 never.
    #[arg(long, env = "DURASTREAM_SENDFILE_MIN_BYTES", default_value_t = 64 * 1024)]
    sendfile_min_bytes: usize,
    /// Send buffer asked for a connection's socket when a catch-up body is sent with
    /// sendfile (the kernel doubles it); small keeps the server pushing the bytes as the
    /// client reads them. 0 leaves the kernel's autotuning.
    #[arg(long, env = "DURASTREAM_SENDFILE_SOCKET_BUFFER_BYTES", default_value_t = 64 * 1024)]
    sendfile_socket_buffer_bytes: usize,
    /// Memory for SSE events framed once and shared by every reader of a stream; past it
    /// the cache starts over (readers then frame their own until it fills again).
    #[arg(long, env = "DURASTREAM_SSE_SHARED_BYTES", default_value_t = 64 * 1024 * 1024)]
    sse_shared_bytes: usize,
    /// Durability policy of the write-ahead log.
    #[arg(long, env = "DURASTREAM_FSYNC", value_enum, default_value = "always")]
    fsync: Fsync,
    /// Sync interval for --fsync interval.
    #[arg(long, env = "DURASTREAM_FSYNC_INTERVAL_MS", default_value_t = 100)]
    fsync_interval_ms: u64,
    /// Size of a write-ahead log segment: past it the log rotates and a checkpoint writes
    /// stream data and the catalog durably, then trims the log. Smaller segments mean
    /// shorter restarts and more frequent checkpoints.
    #[arg(long, env = "DURASTREAM_WAL_SEGMENT_BYTES", default_value_t = 64 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(4096..))]
    wal_segment_bytes: u64,
    /// Serve TLS with this PEM certificate chain (needs --tls-key): HTTP/2 and HTTP/1.1 are
    /// offered by ALPN. Without it the server speaks plain HTTP/1.1 and HTTP/2 (h2c).
    #[arg(long, env = "DURASTREAM_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "DURASTREAM_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Enable the /_test/inject-error fault endpoint. For conformance tests only.
    #[arg(long, env = "DURASTREAM_TEST_FAULTS", value_parser = FalseyValueParser::new())]
    test_faults: bool,
    /// Enable webhook subscriptions. SECURITY: the server then sends HTTP requests to URLs
    /// chosen by any client that can create a subscription. Only https URLs on port 443 to
    /// public addresses are accepted (private, loopback, link-local and cloud metadata addresses
    /// are refused, also after DNS resolution; redirects are not followed), but put
    /// subscription creation behind authentication on shared deployments. Pull-wake
    /// subscriptions are always available.
    #[arg(long, env = "DURASTREAM_WEBHOOKS", value_parser = FalseyValueParser::new())]
    webhooks: bool,
    /// Development only: also accept webhook URLs http://localhost and http://127.0.0.x
    /// (the spec's localhost exception). Lets anyone who can create a subscription make the
    /// server call services on its own loopback interface; never use it on a reachable server.
    #[arg(long, env = "DURASTREAM_ALLOW_LOCALHOST_WEBHOOKS", value_parser = FalseyValueParser::new())]
    allow_localhost_webhooks: bool,
    /// Public base URL of this server (e.g. https://streams.example.com) used in Location,
    /// webhook callback URLs and the JWKS URL; default: http:// and the request's Host when
    /// it is a plain host name or address (else the bound address).
    #[arg(long, env = "DURASTREAM_PUBLIC_URL")]
    public_url: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics, on a listener of their own (keep it
    /// private). Off by default.
    #[arg(long, env = "DURASTREAM_METRICS_BIND")]
    metrics_bind: Option<SocketAddr>,
    /// Serve the web console at /_console (implies --admin-api). It uses the same HTTP API as
    /// any client, so it can do what the token entered in it allows.
    #[arg(long, env = "DURASTREAM_CONSOLE", value_parser = FalseyValueParser::new())]
    console: bool,
    /// Serve the listings {prefix}/__ds/streams and {prefix}/__ds/subscriptions (used by
    /// `durastream ls`). They reveal every stream's path: leave off where paths are secrets.
    #[arg(long, env = "DURASTREAM_ADMIN_API", value_parser = FalseyValueParser::new())]
    admin_api: bool,
    /// Browser origins allowed by CORS: "*" (any page on the web; for local development) or
    /// a comma-separated list like https://app.example.com,http://localhost:5173. Listed
    /// origins are echoed with Vary: Origin; others get no CORS headers.
    #[arg(long, env = "DURASTREAM_CORS_ORIGINS", default_value = "*")]
    cors_origins: String,
    /// Turns authentication on with static tokens from this file: one
    /// "<token> read|write|admin <path>" per line (paths relative to --prefix; "/" for all).
    #[arg(long, env = "DURASTREAM_AUTH_TOKEN_FILE")]
    auth_token_file: Option<PathBuf>,
    /// Turns authentication on with JWTs signed by this HMAC secret (HS256; at least 32
    /// bytes; surrounding whitespace ignored).
    #[arg(long, env = "DURASTREAM_AUTH_JWT_SECRET_FILE")]
    auth_jwt_secret_file: Option<PathBuf>,
    /// Turns authentication on with JWTs signed by the private half of this PEM public key
    /// (Ed25519 for EdDSA, RSA for RS256, EC P-256 for ES256).
    #[arg(long, env = "DURASTREAM_AUTH_JWT_PUBLIC_KEY_FILE")]
    auth_jwt_public_key_file: Option<PathBuf>,
    /// Turns authentication on with JWTs signed by the keys published at this JWKS URL.
    #[arg(long, env = "DURASTREAM_AUTH_JWT_JWKS_URL")]
    auth_jwt_jwks_url: Option<String>,
    /// Require this JWT issuer (`iss`).
    #[arg(long, env = "DURASTREAM_AUTH_JWT_ISSUER")]
    auth_jwt_issuer: Option<String>,
    /// Require this JWT audience (`aud`).
    #[arg(long, env = "DURASTREAM_AUTH_JWT_AUDIENCE")]
    auth_jwt_audience: Option<String>,
    /// Clock skew tolerated on JWT `exp` and `nbf`, in seconds.
    #[arg(long, env = "DURASTREAM_AUTH_JWT_LEEWAY_SECS", default_value_t = 30)]
    auth_jwt_leeway_secs: u64,
    /// Refetch the JWKS at most this often when a token names an unknown `kid`.
    #[arg(long, env = "DURASTREAM_AUTH_JWT_JWKS_MIN_REFRESH_SECS", default_value_t = 30)]
    auth_jwt_jwks_min_refresh_secs: u64,
    /// Refetch the JWKS when the cached keys are older than this (drops revoked keys).
    #[arg(long, env = "DURASTREAM_AUTH_JWT_JWKS_MAX_AGE_SECS", default_value_t = 3600)]
    auth_jwt_jwks_max_age_secs: u64,
    /// Most client connections served at once; beyond it new connections wait (the server
    /// stops accepting) while open ones keep working. Lowered at start to leave a quarter
    /// of the open-file limit (at least 256 descriptors) to storage; the cap in force is
    /// logged.
    #[arg(long, env = "DURASTREAM_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Longest wait for a request's headers; slower clients are disconnected.
    #[arg(long, env = "DURASTREAM_HEADER_READ_TIMEOUT_MS", default_value_t = 30_000)]
    header_read_timeout_ms: u64,
    /// Longest wait for a whole request body once its headers arrived; then 408 and the
    /// connection closes.
    #[arg(long, env = "DURASTREAM_BODY_READ_TIMEOUT_MS", default_value_t = 30_000)]
    body_read_timeout_ms: u64,
    /// Request-body bytes held at once across all requests (raised to --max-body-bytes if
    /// lower); a request that would pass it gets 503 with Retry-After.
    #[arg(long, env = "DURASTREAM_MAX_INFLIGHT_BODY_BYTES", default_value_t = 256 * 1024 * 1024)]
    max_inflight_body_bytes: usize,
    /// Most subscriptions; creating another gets 409 LIMIT_EXCEEDED.
    #[arg(long, env = "DURASTREAM_MAX_SUBSCRIPTIONS", default_value_t = 10_000)]
    max_subscriptions: usize,
    /// Most streams linked to one subscription; explicit links past it get 409
    /// LIMIT_EXCEEDED, pattern matches past it are not linked (logged).
    #[arg(long, env = "DURASTREAM_MAX_SUBSCRIPTION_LINKS", default_value_t = 100_000)]
    max_subscription_links: usize,
    /// With --store postgres: how long a node's lease on a subscription (the right to send
    /// its webhooks and wake events) lasts without renewal. Nodes renew theirs every third
    /// of it; a dead node's subscriptions pass to another node after it.
    #[arg(long, env = "DURASTREAM_SUBSCRIPTION_LEASE_MS", default_value_t = 10_000)]
    subscription_lease_ms: u64,
    /// Serve State Protocol compaction: POST {prefix}/__ds/compact/<path> turns a JSON
    /// stream's events into a snapshot stream (latest value per type and key) readable at
    /// {prefix}/__ds/snapshots/<path>/<offset>; the source's HEAD and GET name the newest
    /// one in Stream-Snapshot. See docs/state-compaction.md.
    #[arg(long, env = "DURASTREAM_STATE_COMPACTION", value_parser = FalseyValueParser::new())]
    state_compaction: bool,
    /// With --state-compaction: compact a JSON stream by itself once this many bytes were
    /// appended since its newest snapshot (0: only on request).
    #[arg(
        long,
        env = "DURASTREAM_STATE_COMPACTION_AUTO_BYTES",
        default_value_t = 0,
        requires = "state_compaction"
    )]
    state_compaction_auto_bytes: u64,
    /// With --state-compaction: after each snapshot, drop the source's bytes before the
    /// snapshot's offset (reads there get 410 Gone). Off by default: it loses history.
    #[arg(long, env = "DURASTREAM_STATE_COMPACTION_TRIM", value_parser = FalseyValueParser::new(),
          requires = "state_compaction")]
    state_compaction_trim: bool,
    /// Largest snapshot built, in bytes (the state is held in memory while it is built);
    /// a bigger state gets 409 STATE_TOO_LARGE and is not compacted.
    #[arg(long, env = "DURASTREAM_STATE_COMPACTION_MAX_BYTES", default_value_t = 64 * 1024 * 1024)]
    state_compaction_max_bytes: usize,
}

impl ServeArgs {
    fn config(&self) -> Result<Config, String> {
        Ok(Config {
            bind: self.bind,
            data_dir: (!self.memory).then(|| self.data_dir.clone()),
            prefix: self.prefix.clone(),
            long_poll_timeout: Duration::from_millis(self.long_poll_timeout_ms),
            max_body_bytes: self.max_body_bytes,
            max_read_bytes: self.max_read_bytes.max(1),
            sendfile_min_bytes: self.sendfile_min_bytes,
            sendfile_socket_buffer_bytes: self.sendfile_socket_buffer_bytes,
            sse_shared_bytes: self.sse_shared_bytes,
            fsync: match self.fsync {
                Fsync::Always => FsyncPolicy::Always,
                Fsync::Interval => {
                    FsyncPolicy::Interval(Duration::from_millis(self.fsync_interval_ms.max(1)))
                }
                Fsync::Never => FsyncPolicy::Never,
            },
            wal_segment_bytes: self.wal_segment_bytes,
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => {
                    Some(crate::tls::TlsFiles { cert: cert.clone(), key: key.clone() })
                }
                _ => None,
            },
            test_faults: self.test_faults,
            webhooks: self.webhooks,
            allow_localhost_webhooks: self.allow_localhost_webhooks,
            public_url: self.public_url.clone(),
            metrics_bind: self.metrics_bind,
            console: self.console,
            admin_api: self.admin_api,
            auth: self.auth().map_err(|e| e.to_string())?,
            cors_origins: CorsOrigins::parse(&self.cors_origins)?,
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms.max(1)),
            body_read_timeout: Duration::from_millis(self.body_read_timeout_ms.max(1)),
            max_inflight_body_bytes: self.max_inflight_body_bytes,
            max_subscriptions: self.max_subscriptions,
            max_subscription_links: self.max_subscription_links,
            subscription_lease: Duration::from_millis(self.subscription_lease_ms.max(100)),
            postgres: self.postgres()?,
            state_compaction: self.state_compaction.then(|| crate::compact::CompactConfig {
                auto_bytes: (self.state_compaction_auto_bytes > 0)
                    .then_some(self.state_compaction_auto_bytes),
                trim: self.state_compaction_trim,
                max_bytes: self.state_compaction_max_bytes,
            }),
            ..Config::memory()
        })
    }

    /// The PostgreSQL settings when --store names a database.
    fn postgres(&self) -> Result<Option<PgOptions>, String> {
        let Some(url) = &self.store else { return Ok(None) };
        let is_pg = url.starts_with("postgres://") || url.starts_with("postgresql://");
        if !is_pg {
            return Err(format!(
                "--store must be a PostgreSQL connection string (postgres://...), got {url:?}; \
                 without --store streams live in --data-dir"
            ));
        }
        Ok(Some(PgOptions {
            url: url.clone(),
            pool_size: self.pg_pool_size.max(2),
            batch_max: self.pg_batch_max.max(1),
            queue: self.pg_queue.max(1),
            committers: self.pg_committers.max(1),
            poll_interval: Duration::from_millis(self.pg_poll_ms.max(1)),
            cached_streams: self.pg_cached_streams,
            notify: !self.pg_no_notify,
            compact_interval: (self.pg_compact_ms > 0)
                .then(|| Duration::from_millis(self.pg_compact_ms)),
        }))
    }

    /// The authentication settings; `None` when no token source is given.
    fn auth(&self) -> std::io::Result<Option<AuthConfig>> {
        let enabled = self.auth_token_file.is_some()
            || self.auth_jwt_secret_file.is_some()
            || self.auth_jwt_public_key_file.is_some()
            || self.auth_jwt_jwks_url.is_some();
        if !enabled {
            if self.auth_jwt_issuer.is_some() || self.auth_jwt_audience.is_some() {
                return Err(std::io::Error::other(
                    "--auth-jwt-issuer and --auth-jwt-audience need a JWT key flag",
                ));
            }
            return Ok(None);
        }
        let mut auth = AuthConfig::new()
            .with_leeway(Duration::from_secs(self.auth_jwt_leeway_secs))
            .with_jwks_refresh(
                Duration::from_secs(self.auth_jwt_jwks_min_refresh_secs),
                Duration::from_secs(self.auth_jwt_jwks_max_age_secs),
            );
        if let Some(path) = &self.auth_token_file {
            auth = auth.with_token_file(path)?;
        }
        if let Some(path) = &self.auth_jwt_secret_file {
            auth = auth.with_hs256_secret_file(path)?;
        }
        if let Some(path) = &self.auth_jwt_public_key_file {
            auth = auth.with_public_key_file(path)?;
        }
        if let Some(url) = &self.auth_jwt_jwks_url {
            auth = auth.with_jwks_url(url);
        }
        if let Some(iss) = &self.auth_jwt_issuer {
            auth = auth.with_issuer(iss);
        }
        if let Some(aud) = &self.auth_jwt_audience {
            auth = auth.with_audience(aud);
        }
        Ok(Some(auth))
    }
}

/// Runs the `durastream` command with `args` (the program name first, as
/// `std::env::args_os()` gives them). `--help`, `--version` and argument errors print and
/// exit the process, as a command does.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    ExitCode::from(run_with_args(args))
}

/// [`main_with_args`] returning the exit status as a number (0 for success), for callers
/// that hand it on, such as the Python console script.
pub fn run_with_args<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "durastream", &mut std::io::stdout());
        return 0;
    }
    let _logging = match logging::init(cli.log_format) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("durastream: {e}");
            return 1;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("durastream: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let result: Result<(), String> = match cli.command {
        Command::Serve(args) => match args.config() {
            Ok(config) => {
                crate::auth::warn_if_open(&config);
                runtime.block_on(crate::run(config)).map_err(|e| e.to_string())
            }
            Err(e) => Err(e),
        },
        Command::Bench(args) => {
            runtime.block_on(bench::run(&cli.url, args)).map_err(|e| e.to_string())
        }
        Command::Client(cmd) => {
            runtime.block_on(cli_client::run(&cli.url, cmd)).map_err(|e| cli_client::explain(&e))
        }
        Command::Completions { .. } => Ok(()),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("durastream: {e}");
            1
        }
    }
}
