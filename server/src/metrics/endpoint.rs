//! The metrics listener: `GET /metrics` in the Prometheus text format, on its own address so
//! that it can stay private while the stream API is public.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use metrics::gauge;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::names;
use crate::store::Backend;

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// A running metrics listener; dropping it stops the listener.
pub struct Endpoint {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Endpoint {
    /// Installs the recorder and starts serving `/metrics` on `bind`. `data_dir` is the file
    /// engine's directory (for the log size), `None` in memory or PostgreSQL.
    pub async fn start(
        bind: SocketAddr,
        store: Backend,
        data_dir: Option<PathBuf>,
    ) -> io::Result<Endpoint> {
        let handle = super::install().map_err(io::Error::other)?;
        let listener = TcpListener::bind(bind).await.map_err(|e| {
            io::Error::new(e.kind(), format!("cannot listen for metrics on {bind}: {e}"))
        })?;
        let addr = listener.local_addr()?;
        let scrape = Arc::new(Scrape { store, wal_dir: data_dir.map(|d| d.join("wal")), handle });
        let task = tokio::spawn(async move {
            // Histogram samples wait in memory until upkeep folds them into the buckets:
            // run it even when nobody scrapes.
            let mut upkeep = tokio::time::interval(UPKEEP_EVERY);
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = upkeep.tick() => {
                        handle.run_upkeep();
                        continue;
                    }
                };
                let Ok((tcp, _)) = accepted else {
                    // Out of descriptors, most likely: do not spin.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                };
                let scrape = scrape.clone();
                let svc = service_fn(move |req| {
                    let scrape = scrape.clone();
                    async move { Ok::<_, Infallible>(scrape.answer(&req).await) }
                });
                tokio::spawn(async move {
                    if let Err(e) =
                        http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await
                    {
                        tracing::debug!("metrics connection ended: {e}");
                    }
                });
            }
        });
        tracing::info!("metrics at http://{addr}/metrics");
        Ok(Endpoint { addr, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Scrape {
    /// The streams: counted in this process, or in the shared database (the same on every
    /// node).
    store: Backend,
    wal_dir: Option<PathBuf>,
    handle: &'static metrics_exporter_prometheus::PrometheusHandle,
}

impl Scrape {
    async fn answer(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let reply = |status: StatusCode, ct: &'static str, body: String| {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            *r.status_mut() = status;
            r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(ct));
            r
        };
        if req.uri().path() != "/metrics" {
            return reply(StatusCode::NOT_FOUND, "text/plain", "metrics are at /metrics\n".into());
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "use GET\n".into());
        }
        self.update_gauges().await;
        self.handle.run_upkeep();
        reply(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", self.handle.render())
    }

    /// State gauges, computed now rather than on every request.
    async fn update_gauges(&self) {
        match &self.store {
            Backend::Local(store) => {
                let streams = store.snapshot_streams();
                let producers: usize =
                    streams.iter().map(|s| s.state.lock().writer.producers.len()).sum();
                gauge!(names::STREAMS).set(streams.len() as f64);
                gauge!(names::PRODUCERS).set(producers as f64);
            }
            Backend::Postgres(pg) => match pg.counts().await {
                Ok((streams, producers)) => {
                    gauge!(names::STREAMS).set(streams as f64);
                    gauge!(names::PRODUCERS).set(producers as f64);
                }
                Err(e) => tracing::warn!("counting streams for the gauges failed: {e}"),
            },
        }
        let (mut bytes, mut segments) = (0u64, 0u64);
        if let Some(dir) = &self.wal_dir {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    if e.file_name().to_string_lossy().ends_with(".wal") {
                        segments += 1;
                        bytes += e.metadata().map_or(0, |m| m.len());
                    }
                }
            }
        }
        gauge!(names::WAL_SIZE).set(bytes as f64);
        gauge!(names::WAL_SEGMENTS).set(segments as f64);
    }
}
