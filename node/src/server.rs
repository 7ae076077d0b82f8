//! The bundled server: `durastream_server` started in-process on the addon's runtime, for
//! tests (a replacement for `DurableStreamTestServer`) and embedding.

use std::net::SocketAddr;
use std::time::Duration;

use durastream_server::{Config, Server};
use napi_derive::napi;
use tokio::sync::Mutex;

use crate::error::invalid_argument;

/// Server settings (absent fields keep `Config::memory()` defaults).
#[napi(object)]
#[derive(Default)]
pub struct ServerConfig {
    /// Interface to bind (default `127.0.0.1`).
    pub host: Option<String>,
    /// Port (default 0: a free port).
    pub port: Option<u32>,
    /// Store streams in this directory instead of memory.
    pub data_dir: Option<String>,
    /// URL prefix of streams (default `/v1/stream`; `""` serves streams at the root).
    pub prefix: Option<String>,
    /// How long a long-poll waits, in ms (default 30 000).
    pub long_poll_timeout_ms: Option<f64>,
    /// Longest SSE connection before the server rotates it, in ms (default 60 000).
    pub sse_max_duration_ms: Option<f64>,
    /// Largest body a single read response carries, in bytes (default 1 MiB).
    pub max_read_bytes: Option<i64>,
    /// Largest append body, in bytes (default 64 MiB).
    pub max_body_bytes: Option<i64>,
    /// Enable the `/_test/inject-error` fault-injection endpoint.
    pub test_faults: Option<bool>,
}

fn duration(name: &'static str, ms: Option<f64>, default: Duration) -> napi::Result<Duration> {
    match ms {
        None => Ok(default),
        Some(ms) if ms.is_finite() && ms > 0.0 && ms < 1e12 => {
            Ok(Duration::from_secs_f64(ms / 1000.0))
        }
        Some(ms) => Err(invalid_argument(name, format!("{name} must be > 0 (got {ms})"))),
    }
}

fn size(name: &'static str, v: Option<i64>, default: usize) -> napi::Result<usize> {
    match v {
        None => Ok(default),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid_argument(name, format!("{name} must be >= 1 (got {n})"))),
    }
}

fn config(c: ServerConfig) -> napi::Result<Config> {
    let mut cfg = match c.data_dir {
        Some(dir) => Config::file(dir),
        None => Config::memory(),
    };
    let host = c.host.unwrap_or_else(|| "127.0.0.1".to_string());
    let port = u16::try_from(c.port.unwrap_or(0))
        .map_err(|_| invalid_argument("port", "port must be below 65536"))?;
    cfg.bind = format!("{host}:{port}")
        .parse::<SocketAddr>()
        .or_else(|_| format!("[{host}]:{port}").parse::<SocketAddr>())
        .map_err(|_| invalid_argument("host", format!("host must be an IP address: {host}")))?;
    if let Some(p) = c.prefix {
        cfg.prefix = p;
    }
    cfg.long_poll_timeout =
        duration("longPollTimeoutMs", c.long_poll_timeout_ms, cfg.long_poll_timeout)?;
    cfg.sse_max_duration =
        duration("sseMaxDurationMs", c.sse_max_duration_ms, cfg.sse_max_duration)?;
    cfg.max_read_bytes = size("maxReadBytes", c.max_read_bytes, cfg.max_read_bytes)?;
    cfg.max_body_bytes = size("maxBodyBytes", c.max_body_bytes, cfg.max_body_bytes)?;
    cfg.test_faults = c.test_faults.unwrap_or(false);
    Ok(cfg)
}

/// A running in-process server.
#[napi]
pub struct NativeServer {
    server: Mutex<Option<Server>>,
    url: String,
    prefix: String,
}

#[napi]
impl NativeServer {
    /// Starts a server; resolves once it accepts connections.
    #[napi(factory)]
    pub async fn start(config: Option<ServerConfig>) -> napi::Result<NativeServer> {
        let cfg = config_or_default(config)?;
        let prefix = cfg.prefix_path().to_string();
        let server = Server::start(cfg).await.map_err(|e| {
            napi::Error::new(napi::Status::GenericFailure, format!("cannot start server: {e}"))
        })?;
        let url = server.url();
        Ok(NativeServer { server: Mutex::new(Some(server)), url, prefix })
    }

    /// The root URL (`http://127.0.0.1:PORT`, no trailing slash).
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The stream prefix (`/v1/stream`, or `""`).
    #[napi(getter)]
    pub fn prefix(&self) -> String {
        self.prefix.clone()
    }

    /// Stops the server gracefully. Stopping twice is harmless.
    #[napi]
    pub async fn stop(&self) -> napi::Result<()> {
        let server = self.server.lock().await.take();
        if let Some(s) = server {
            s.shutdown().await.map_err(|e| {
                napi::Error::new(napi::Status::GenericFailure, format!("server shutdown: {e}"))
            })?;
        }
        Ok(())
    }
}

fn config_or_default(c: Option<ServerConfig>) -> napi::Result<Config> {
    config(c.unwrap_or_default())
}
