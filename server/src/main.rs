//! The `durastream` command: the server (`serve`) and a command-line client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod bench;
mod cli_client;
mod logging;
#[cfg(feature = "otel")]
mod otel;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use durastream_server::{Config, FsyncPolicy};

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
    Serve(ServeArgs),
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
    #[arg(long, env = "DURASTREAM_MEMORY")]
    memory: bool,
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
    /// Enable the /_test/inject-error fault endpoint. For conformance tests only.
    #[arg(long, env = "DURASTREAM_TEST_FAULTS")]
    test_faults: bool,
    /// Enable webhook subscriptions. SECURITY: the server then sends HTTP requests to URLs
    /// chosen by any client that can create a subscription. Only https URLs to public
    /// addresses are accepted (private, loopback, link-local and cloud metadata addresses
    /// are refused, also after DNS resolution; redirects are not followed), but put
    /// subscription creation behind authentication on shared deployments. Pull-wake
    /// subscriptions are always available.
    #[arg(long, env = "DURASTREAM_WEBHOOKS")]
    webhooks: bool,
    /// Development only: also accept webhook URLs http://localhost and http://127.0.0.x
    /// (the spec's localhost exception). Lets anyone who can create a subscription make the
    /// server call services on its own loopback interface; never use it on a reachable server.
    #[arg(long, env = "DURASTREAM_ALLOW_LOCALHOST_WEBHOOKS")]
    allow_localhost_webhooks: bool,
    /// Public base URL of this server (e.g. https://streams.example.com) used in webhook
    /// callback URLs and the JWKS URL; default: http:// and the creating request's Host.
    #[arg(long, env = "DURASTREAM_PUBLIC_URL")]
    public_url: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics, on a listener of their own (keep it
    /// private). Off by default.
    #[arg(long, env = "DURASTREAM_METRICS_BIND")]
    metrics_bind: Option<SocketAddr>,
    /// Serve the web console at /_console (implies --admin-api). It uses the same HTTP API as
    /// any client, so it can do what the token entered in it allows.
    #[arg(long, env = "DURASTREAM_CONSOLE")]
    console: bool,
    /// Serve the listings {prefix}/__ds/streams and {prefix}/__ds/subscriptions (used by
    /// `durastream ls`). They reveal every stream's path: leave off where paths are secrets.
    #[arg(long, env = "DURASTREAM_ADMIN_API")]
    admin_api: bool,
}

impl ServeArgs {
    fn config(&self) -> Config {
        Config {
            bind: self.bind,
            data_dir: (!self.memory).then(|| self.data_dir.clone()),
            prefix: self.prefix.clone(),
            long_poll_timeout: Duration::from_millis(self.long_poll_timeout_ms),
            max_body_bytes: self.max_body_bytes,
            max_read_bytes: self.max_read_bytes.max(1),
            fsync: match self.fsync {
                Fsync::Always => FsyncPolicy::Always,
                Fsync::Interval => {
                    FsyncPolicy::Interval(Duration::from_millis(self.fsync_interval_ms.max(1)))
                }
                Fsync::Never => FsyncPolicy::Never,
            },
            wal_segment_bytes: self.wal_segment_bytes,
            test_faults: self.test_faults,
            webhooks: self.webhooks,
            allow_localhost_webhooks: self.allow_localhost_webhooks,
            public_url: self.public_url.clone(),
            metrics_bind: self.metrics_bind,
            console: self.console,
            admin_api: self.admin_api,
            ..Config::memory()
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "durastream", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let _logging = match logging::init(cli.log_format) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("durastream: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("durastream: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), String> = match cli.command {
        Command::Serve(args) => {
            runtime.block_on(durastream_server::run(args.config())).map_err(|e| e.to_string())
        }
        Command::Bench(args) => {
            runtime.block_on(bench::run(&cli.url, args)).map_err(|e| e.to_string())
        }
        Command::Client(cmd) => {
            runtime.block_on(cli_client::run(&cli.url, cmd)).map_err(|e| cli_client::explain(&e))
        }
        Command::Completions { .. } => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("durastream: {e}");
            ExitCode::FAILURE
        }
    }
}
