//! The bundled server: `durastream_server` started in-process on the addon's runtime, for
//! tests (a replacement for `DurableStreamTestServer`) and embedding.

use durastream_server::{Config, Server, ServerOptions};
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
    /// Turn access control on with static tokens: `<token> read|write|admin <path>` per line.
    pub auth_tokens: Option<String>,
    /// Turn access control on with HS256 JWTs signed by this secret (32 bytes or more).
    pub auth_jwt_secret: Option<String>,
    /// Turn access control on with JWTs signed by this PEM public key's private half.
    pub auth_jwt_public_key_pem: Option<String>,
    /// Turn access control on with JWTs signed by the keys of this JWKS URL.
    pub auth_jwt_jwks_url: Option<String>,
    /// Browser origins allowed by CORS: `*` (default) or a comma-separated list.
    pub cors_origins: Option<String>,
}

fn non_negative(name: &'static str, v: Option<f64>) -> napi::Result<Option<u64>> {
    match v {
        None => Ok(None),
        Some(n) if n.is_finite() && (0.0..1e15).contains(&n) => Ok(Some(n as u64)),
        Some(n) => Err(invalid_argument(name, format!("{name} must be >= 0 (got {n})"))),
    }
}

fn config(c: ServerConfig) -> napi::Result<Config> {
    // Negative sizes are rejected here; every other check is the server's, shared by all
    // bindings (`ServerOptions::into_config`).
    let size = |name, v: Option<i64>| non_negative(name, v.map(|n| n as f64));
    let options = ServerOptions {
        data_dir: c.data_dir.map(Into::into),
        host: c.host,
        port: c.port,
        prefix: c.prefix,
        long_poll_timeout_ms: non_negative("longPollTimeoutMs", c.long_poll_timeout_ms)?,
        sse_max_duration_ms: non_negative("sseMaxDurationMs", c.sse_max_duration_ms)?,
        max_read_bytes: size("maxReadBytes", c.max_read_bytes)?,
        max_body_bytes: size("maxBodyBytes", c.max_body_bytes)?,
        test_faults: c.test_faults,
        auth_tokens: c.auth_tokens,
        auth_jwt_secret: c.auth_jwt_secret,
        auth_jwt_public_key_pem: c.auth_jwt_public_key_pem,
        auth_jwt_jwks_url: c.auth_jwt_jwks_url,
        cors_origins: c.cors_origins,
        ..ServerOptions::default()
    };
    options.into_config().map_err(|e| invalid_argument(e.option, e.to_string()))
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
