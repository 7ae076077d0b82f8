//! `Server`: the durastream server (`durastream_server::Server`) running in-process on the
//! extension's runtime, so Python tests need no other install.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use durastream_server::{Config, FsyncPolicy, Server};
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
    #[pyo3(signature = (data_dir=None, host="127.0.0.1", port=0, prefix="/v1/stream", long_poll_timeout_ms=None, test_faults=false, max_body_bytes=None, max_read_bytes=None, fsync="always", fsync_interval_ms=100, webhooks=false, allow_localhost_webhooks=false, public_url=None))]
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
    ) -> PyResult<Pending> {
        let ip: IpAddr = host.parse().map_err(|_| {
            PyValueError::new_err(format!("host must be an IP address (got {host:?})"))
        })?;
        let mut config = match data_dir {
            Some(dir) => Config::file(dir),
            None => Config::memory(),
        };
        config.bind = SocketAddr::new(ip, port);
        config.prefix = prefix.to_string();
        if let Some(ms) = long_poll_timeout_ms {
            config.long_poll_timeout = Duration::from_millis(ms);
        }
        config.test_faults = test_faults;
        if let Some(n) = max_body_bytes {
            config.max_body_bytes = n;
        }
        if let Some(n) = max_read_bytes {
            config.max_read_bytes = n.max(1);
        }
        config.fsync = match fsync {
            "always" => FsyncPolicy::Always,
            "interval" => FsyncPolicy::Interval(Duration::from_millis(fsync_interval_ms.max(1))),
            "never" => FsyncPolicy::Never,
            other => {
                return Err(PyValueError::new_err(format!(
                    "fsync must be 'always', 'interval' or 'never' (got {other:?})"
                )))
            }
        };
        config.webhooks = webhooks;
        config.allow_localhost_webhooks = allow_localhost_webhooks;
        config.public_url = public_url;
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
