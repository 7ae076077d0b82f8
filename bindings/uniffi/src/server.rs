//! `TestServer`: the durastream server started in-process (memory or file engine), for the
//! foreign packages' tests and examples.

use std::sync::{mpsc, Mutex};

use durastream_server::{Server, ServerOptions};

use crate::error::{DurastreamError, Result};
use crate::runtime;

/// Settings of [`TestServer::start`].
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct TestServerOptions {
    /// Store streams in this directory (file engine); absent keeps them in memory.
    #[uniffi(default)]
    pub data_dir: Option<String>,
    /// URL path under which streams live. Default `/v1/stream`.
    #[uniffi(default)]
    pub prefix: Option<String>,
    /// How long a long-poll waits before answering 204, in ms. Default 500.
    #[uniffi(default)]
    pub long_poll_timeout_ms: Option<u64>,
    /// Enable the `/_test/inject-error` fault endpoint.
    #[uniffi(default)]
    pub test_faults: bool,
    /// Turns access control on with static tokens: `<token> read|write|admin <path>` per line.
    #[uniffi(default)]
    pub auth_tokens: Option<String>,
    /// Turns access control on with HS256 JWTs signed by this secret (32 bytes or more).
    #[uniffi(default)]
    pub auth_jwt_secret: Option<String>,
    /// Turns access control on with JWTs signed by this PEM public key's private half.
    #[uniffi(default)]
    pub auth_jwt_public_key_pem: Option<String>,
    /// Turns access control on with JWTs signed by the keys of this JWKS URL.
    #[uniffi(default)]
    pub auth_jwt_jwks_url: Option<String>,
    /// Browser origins allowed by CORS: `*` (default) or a comma-separated list.
    #[uniffi(default)]
    pub cors_origins: Option<String>,
}

/// A durastream server running in this process on a free loopback port. Stops on
/// `shutdown()` or when released.
#[derive(uniffi::Object)]
pub struct TestServer {
    url: String,
    prefix: String,
    server: Mutex<Option<Server>>,
}

fn io_error(what: &str, e: std::io::Error) -> DurastreamError {
    DurastreamError::invalid_argument("server", format!("{what}: {e}"))
}

#[uniffi::export]
impl TestServer {
    /// Starts a server (blocks until it listens).
    #[uniffi::constructor(default(options))]
    pub fn start(options: TestServerOptions) -> Result<std::sync::Arc<Self>> {
        let config = ServerOptions {
            data_dir: options.data_dir.map(Into::into),
            prefix: options.prefix,
            // Tests want short long-polls: 500 ms unless set.
            long_poll_timeout_ms: Some(options.long_poll_timeout_ms.unwrap_or(500)),
            test_faults: Some(options.test_faults),
            auth_tokens: options.auth_tokens,
            auth_jwt_secret: options.auth_jwt_secret,
            auth_jwt_public_key_pem: options.auth_jwt_public_key_pem,
            auth_jwt_jwks_url: options.auth_jwt_jwks_url,
            cors_origins: options.cors_origins,
            ..ServerOptions::default()
        }
        .into_config()
        .map_err(|e| DurastreamError::invalid_argument(e.option, e.to_string()))?;
        let prefix = config.prefix_path().to_string();
        // Started on the runtime and waited for with a channel, so this works from any
        // thread (block_on would panic on a runtime thread).
        let (tx, rx) = mpsc::channel();
        runtime::get().spawn(async move {
            let _ = tx.send(Server::start(config).await);
        });
        let server = rx
            .recv()
            .map_err(|_| DurastreamError::invalid_argument("server", "server task ended"))?
            .map_err(|e| io_error("cannot start the server", e))?;
        Ok(std::sync::Arc::new(TestServer {
            url: server.url(),
            prefix,
            server: Mutex::new(Some(server)),
        }))
    }

    /// The server's root URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The full URL of the stream called `name` (`url + prefix + "/" + name`).
    pub fn stream_url(&self, name: String) -> String {
        format!("{}{}/{}", self.url, self.prefix, name.trim_start_matches('/'))
    }

    /// Stops the server gracefully. Calling it again does nothing.
    pub async fn shutdown(&self) -> Result<()> {
        let server = self.take();
        runtime::run(async move {
            match server {
                Some(s) => s.shutdown().await.map_err(|e| io_error("server shutdown failed", e)),
                None => Ok(()),
            }
        })
        .await
    }
}

impl TestServer {
    fn take(&self) -> Option<Server> {
        self.server.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }

    /// Stops the server from synchronous code (Rust tests).
    #[cfg(test)]
    pub(crate) fn shutdown_blocking(&self) {
        if let Some(s) = self.take() {
            let (tx, rx) = mpsc::channel();
            runtime::get().spawn(async move {
                let _ = tx.send(s.shutdown().await);
            });
            let _ = rx.recv();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.take() {
            // Never block in a destructor: the shutdown finishes on the runtime.
            runtime::get().spawn(async move {
                let _ = s.shutdown().await;
            });
        }
    }
}
