//! `Server`: the durastream server (`durastream_server::Server`) running in-process on the
//! extension's runtime, so Python tests need no other install.

use std::path::PathBuf;
use std::sync::Mutex;

use durastream_server::{Server, ServerOptions};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::error::Fail;
use crate::runtime::{self, check_pid, pending, pending_with, Convert, Pending};

/// A running server. `shutdown()` stops it gracefully.
#[pyclass(name = "Server", module = "durastream._durastream", frozen)]
pub struct PyServer {
    server: Mutex<Option<Server>>,
    url: String,
    prefix: String,
    pid: u32,
}

#[pymethods]
impl PyServer {
    /// Starts a server; resolves to the running `Server`. `data_dir=None` keeps everything
    /// in memory. `fsync` is `"always"`, `"interval"` or `"never"`.
    #[staticmethod]
    #[pyo3(signature = (data_dir=None, host="127.0.0.1", port=0, prefix="/v1/stream", long_poll_timeout_ms=None, test_faults=false, max_body_bytes=None, max_read_bytes=None, fsync="always", fsync_interval_ms=100, webhooks=false, allow_localhost_webhooks=false, public_url=None, auth_tokens=None, auth_jwt_secret=None, auth_jwt_public_key_pem=None, auth_jwt_jwks_url=None, cors_origins=None))]
    #[allow(clippy::too_many_arguments)]
    fn start(
        data_dir: Option<PathBuf>,
        host: &str,
        port: u16,
        prefix: &str,
        long_poll_timeout_ms: Option<u64>,
        test_faults: bool,
        max_body_bytes: Option<usize>,
        max_read_bytes: Option<usize>,
        fsync: &str,
        fsync_interval_ms: u64,
        webhooks: bool,
        allow_localhost_webhooks: bool,
        public_url: Option<String>,
        auth_tokens: Option<String>,
        auth_jwt_secret: Option<String>,
        auth_jwt_public_key_pem: Option<String>,
        auth_jwt_jwks_url: Option<String>,
        cors_origins: Option<String>,
    ) -> PyResult<Pending> {
        let options = ServerOptions {
            data_dir,
            host: Some(host.to_string()),
            port: Some(port.into()),
            prefix: Some(prefix.to_string()),
            long_poll_timeout_ms,
            max_body_bytes: max_body_bytes.map(|n| n as u64),
            // 0 has always meant "the smallest possible" here.
            max_read_bytes: max_read_bytes.map(|n| n.max(1) as u64),
            fsync: Some(fsync.to_string()),
            fsync_interval_ms: Some(fsync_interval_ms.max(1)),
            test_faults: Some(test_faults),
            webhooks: Some(webhooks),
            allow_localhost_webhooks: Some(allow_localhost_webhooks),
            public_url,
            auth_tokens,
            auth_jwt_secret,
            auth_jwt_public_key_pem,
            auth_jwt_jwks_url,
            cors_origins,
            ..ServerOptions::default()
        };
        let config = options.into_config().map_err(|e| PyValueError::new_err(e.to_string()))?;
        let prefix = config.prefix_path().to_string();
        // Make sure the runtime exists before the future runs on it.
        runtime::get()?;
        Ok(pending_with(async move {
            let server = Server::start(config).await?;
            let url = server.url();
            let convert: Convert = Box::new(move |py| {
                let s = PyServer {
                    server: Mutex::new(Some(server)),
                    url,
                    prefix,
                    pid: std::process::id(),
                };
                Ok(Bound::new(py, s)?.into_any().unbind())
            });
            Ok(convert)
        }))
    }

    /// The root URL, `http://host:port`.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// The URL path under which streams live (empty for the root).
    #[getter]
    fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The port the server listens on.
    #[getter]
    fn port(&self) -> PyResult<u16> {
        let guard = self.server.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard
            .as_ref()
            .map(|s| s.addr().port())
            .ok_or_else(|| PyRuntimeError::new_err("the server has been shut down"))
    }

    /// True until `shutdown()` is called.
    #[getter]
    fn running(&self) -> bool {
        self.server.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_some()
    }

    /// Stops accepting, ends live reads, waits for requests in flight and flushes storage.
    /// Resolves to `None`; a second call does nothing.
    fn shutdown(&self) -> PyResult<Pending> {
        check_pid(self.pid, "server")?;
        let server = self.server.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        Ok(pending(async move {
            if let Some(s) = server {
                s.shutdown().await?;
            }
            Ok::<_, Fail>(())
        }))
    }
}

/// Runs the `durastream` command (server, client commands, bench) with `argv` (program name
/// first) and returns its exit status; the console script calls it.
#[pyfunction]
pub fn run_cli(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(|| durastream_server::cli::run_with_args(argv))
}
