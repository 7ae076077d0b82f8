//! Starting, serving and stopping the server.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::auth::Auth;
use crate::compact::Compactor;
use crate::config::Config;
use crate::http::{body::BodyBudget, faults::Faults, App};
use crate::listen::{connection_cap, AcceptBackoff};
use crate::store::file::{self, FileEngine, FileOptions};
use crate::store::postgres::PgStore;
use crate::store::{Backend, Engine, MemoryEngine, Store};
use crate::subscriptions::Subscriptions;

/// A running server.
pub struct Server {
    addr: SocketAddr,
    tls: bool,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
    metrics: Option<crate::metrics::Endpoint>,
}

/// Opens the configured engine and builds the store (blocking: recovery reads the disk).
fn open_store(config: &Config) -> io::Result<Store> {
    match &config.data_dir {
        None => Ok(Store::open(Arc::new(MemoryEngine), Vec::new(), 1)),
        Some(dir) => {
            let opts = FileOptions {
                fsync: config.fsync,
                segment_bytes: config.wal_segment_bytes,
                open_files: file::open_files_for(crate::limits::nofile()),
            };
            let (engine, rec) = FileEngine::open(dir, opts)?;
            tracing::info!(streams = rec.streams.len(), "recovered {}", engine.describe());
            Ok(Store::open(Arc::new(engine), rec.streams, rec.next_id))
        }
    }
}

impl Server {
    /// Opens storage, binds, and starts serving in the background.
    pub async fn start(config: Config) -> io::Result<Server> {
        let nofile = crate::limits::raise_nofile();
        tracing::debug!(nofile, "file descriptor limit");
        file::faults::setup();
        let auth = config.auth.as_ref().map(Auth::build).transpose()?;
        let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
        let cfg = config.clone();
        let (store, subscriptions) = match &config.postgres {
            // Subscriptions keep their state in one process: not yet with a shared database.
            Some(pg) => (Backend::Postgres(PgStore::open(pg.clone()).await?), None),
            None => {
                let (store, subscriptions) = tokio::task::spawn_blocking(move || {
                    let store = Arc::new(open_store(&cfg)?);
                    let subscriptions = Subscriptions::open(store.clone(), &cfg)?;
                    Ok::<_, io::Error>((store, subscriptions))
                })
                .await
                .map_err(io::Error::other)??;
                (Backend::Local(store), Some(subscriptions))
            }
        };
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let metrics = match config.metrics_bind {
            Some(bind) => Some(
                crate::metrics::Endpoint::start(
                    bind,
                    store.local().cloned(),
                    config.data_dir.clone(),
                )
                .await?,
            ),
            None => None,
        };
        // The address in force (port 0 picked one): URLs built from it must name it.
        let config = Config { bind: addr, ..config };
        let (stop_tx, stop_rx) = oneshot::channel();
        let secure = tls.is_some();
        let compactor = match (&config.state_compaction, store.local()) {
            (Some(c), Some(local)) => {
                Some(Compactor::open(local.clone(), c.clone(), config.prefix_path()).await)
            }
            (Some(_), None) => {
                return Err(io::Error::other(
                    "state compaction needs the file or memory engine (not yet --store postgres)",
                ))
            }
            (None, _) => None,
        };
        let parts = Parts { store, subscriptions, compactor };
        let task = tokio::spawn(serve(listener, parts, config, auth, tls, stop_rx));
        Ok(Server { addr, tls: secure, stop: Some(stop_tx), task, metrics })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the metrics listener, when `Config::metrics_bind` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(crate::metrics::Endpoint::addr)
    }

    /// The server's root URL, `http://host:port` (`https://` with TLS; streams live under
    /// the prefix).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting, ends live reads, waits for requests in flight, flushes storage.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.map_err(io::Error::other)?
    }

    /// Waits until the server stops (after a fatal error or `shutdown`).
    pub async fn wait(mut self) -> io::Result<()> {
        (&mut self.task).await.map_err(io::Error::other)?
    }
}

/// The shared services a server runs.
struct Parts {
    store: Backend,
    /// Only with streams in this process (not yet with a shared database).
    subscriptions: Option<Arc<Subscriptions>>,
    compactor: Option<Arc<Compactor>>,
}

async fn serve(
    listener: TcpListener,
    parts: Parts,
    config: Config,
    auth: Option<Auth>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: oneshot::Receiver<()>,
) -> io::Result<()> {
    let Parts { store, subscriptions, compactor } = parts;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let faults = config.test_faults.then(Faults::default);
    let deliveries = subscriptions.as_ref().map(|s| s.spawn_worker());
    let fd_limit = Some(crate::limits::nofile());
    let cap = connection_cap(config.max_connections, fd_limit);
    let budget_bytes = config.max_inflight_body_bytes.max(config.max_body_bytes);
    tracing::info!(
        max_connections = cap,
        configured = config.max_connections,
        open_file_limit = fd_limit,
        max_inflight_body_bytes = budget_bytes,
        "serving at most {cap} connections at once"
    );
    let connections = Arc::new(tokio::sync::Semaphore::new(cap));
    crate::metrics::connection_cap(cap);
    // HTTP/1.1 and HTTP/2 on one listener: h2c by prior knowledge, or ALPN under TLS.
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1().timer(TokioTimer::new()).header_read_timeout(config.header_read_timeout);
    http.http2().timer(TokioTimer::new());
    let http = Arc::new(http);
    let handshake_timeout = config.header_read_timeout;
    let app = Arc::new(App {
        store: store.clone(),
        subscriptions: subscriptions.clone(),
        config,
        faults,
        auth,
        shutdown: shutdown_rx,
        budget: BodyBudget::new(budget_bytes),
        compactor: compactor.clone(),
    });
    let compaction = compactor.as_ref().map(Compactor::spawn);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let maintenance = tokio::spawn(maintain(store.clone()));
    let mut backoff = AcceptBackoff::default();
    loop {
        // At the cap, stop accepting: new clients wait in the listen backlog while the
        // connections already open keep being served.
        if connections.available_permits() == 0 {
            crate::metrics::connection_cap_reached();
        }
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut stop => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let tcp = match accepted {
                    Ok((tcp, _)) => {
                        backoff.succeeded();
                        tcp
                    }
                    Err(e) => {
                        let wait = backoff.failed(&e, std::time::Instant::now());
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => continue,
                            _ = &mut stop => break,
                        }
                    }
                };
                let _ = tcp.set_nodelay(true);
                let open = crate::metrics::Connection::opened();
                let app = app.clone();
                let svc = service_fn(move |req| crate::metrics::request::serve(app.clone(), req));
                let (http, tls, watcher) = (http.clone(), tls.clone(), graceful.watcher());
                tokio::spawn(async move {
                    let result = match tls {
                        None => watcher.watch(http.serve_connection(TokioIo::new(tcp), svc)).await,
                        Some(tls) => {
                            match tokio::time::timeout(handshake_timeout, tls.accept(tcp)).await {
                                Ok(Ok(stream)) => {
                                    let conn = http.serve_connection(TokioIo::new(stream), svc);
                                    watcher.watch(conn).await
                                }
                                Ok(Err(e)) => Err(e.into()),
                                Err(_) => Err("TLS handshake timed out".into()),
                            }
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!("connection ended: {e}");
                    }
                    drop(permit);
                    drop(open);
                });
            }
            _ = &mut stop => break,
        }
    }
    drop(listener);
    let _ = shutdown_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after 10 s; closing them");
    }
    maintenance.abort();
    if let Some(d) = deliveries {
        d.abort();
    }
    if let Some(c) = compaction {
        c.abort();
    }
    let (Backend::Local(store), Some(subscriptions)) = (store, subscriptions) else {
        return Ok(());
    };
    tokio::task::spawn_blocking(move || {
        if let Err(e) = subscriptions.flush() {
            tracing::error!("writing subscription state at shutdown failed: {e}");
        }
        if let Err(e) = store.checkpoint() {
            tracing::error!("final checkpoint failed: {e}");
        }
        store.engine().shutdown()
    })
    .await
    .map_err(io::Error::other)?
}

/// Background upkeep: expire streams, checkpoint when the log has grown.
async fn maintain(store: Backend) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    // After a failed checkpoint (the log keeps everything), wait longer before the next.
    let mut backoff = 1u64;
    let mut next_checkpoint = 0u64;
    loop {
        tick.tick().await;
        n += 1;
        if n.is_multiple_of(5) {
            store.sweep_expired().await;
        }
        let Some(local) = store.local() else { continue };
        if n >= next_checkpoint && local.engine().checkpoint_due() {
            let s = local.clone();
            let res = tokio::task::spawn_blocking(move || s.checkpoint())
                .await
                .unwrap_or_else(|e| Err(io::Error::other(e)));
            match res {
                Ok(()) => {
                    tracing::debug!("checkpoint written");
                    backoff = 1;
                }
                Err(e) => {
                    tracing::error!("checkpoint failed (the log keeps every write): {e}");
                    next_checkpoint = n + backoff;
                    backoff = (backoff * 2).min(60);
                }
            }
        }
    }
}

/// Runs a server until SIGINT or SIGTERM, then shuts it down gracefully.
pub async fn run(config: Config) -> io::Result<()> {
    let prefix = config.prefix_path().to_string();
    let server = Server::start(config).await?;
    tracing::info!("durastream listening on {}{}/", server.url(), prefix);
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
