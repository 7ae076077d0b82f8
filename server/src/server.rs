//! Starting, serving and stopping the server.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::auth::Auth;
use crate::compact::Compactor;
use crate::config::Config;
use crate::http::park::{self, ConnIo, Handoff};
use crate::http::{body::BodyBudget, faults::Faults, App, SharedEvents};
use crate::listen::{connection_cap, AcceptBackoff};
use crate::store::file::{self, FileEngine, FileOptions};
use crate::store::postgres::PgStore;
use crate::store::{Backend, Engine, MemoryEngine, Store};
use crate::subscriptions::{Service, Shared, Subscriptions};

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
            // Subscriptions are opened once the address is known (it names the node).
            Some(pg) => (Backend::Postgres(PgStore::open(pg.clone()).await?), None),
            None => {
                let (store, subscriptions) = tokio::task::spawn_blocking(move || {
                    let store = Arc::new(open_store(&cfg)?);
                    let subscriptions = Subscriptions::open(store.clone(), &cfg)?;
                    Ok::<_, io::Error>((store, subscriptions))
                })
                .await
                .map_err(io::Error::other)??;
                (Backend::Local(store), Some(Service::Local(subscriptions)))
            }
        };
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let subscriptions = match &store {
            Backend::Postgres(pg) => {
                Some(Service::Shared(Shared::open(pg.clone(), &config, addr).await?))
            }
            Backend::Local(_) => subscriptions,
        };
        let metrics = match config.metrics_bind {
            Some(bind) => Some(
                crate::metrics::Endpoint::start(bind, store.clone(), config.data_dir.clone())
                    .await?,
            ),
            None => None,
        };
        // The address in force (port 0 picked one): URLs built from it must name it.
        let config = Config { bind: addr, ..config };
        let (stop_tx, stop_rx) = oneshot::channel();
        let secure = tls.is_some();
        let compactor = match &config.state_compaction {
            Some(c) if c.auto_bytes.is_some() && store.local().is_none() => {
                return Err(io::Error::other(
                    "--state-compaction-auto-bytes needs the file or memory engine (with \
                     --store postgres, compact on request: POST {prefix}/__ds/compact/<path>)",
                ))
            }
            Some(c) => Some(Compactor::open(store.clone(), c.clone(), config.prefix_path()).await),
            None => None,
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
    subscriptions: Option<Service>,
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
    let sse_shared_bytes = config.sse_shared_bytes;
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
        sse_events: Arc::new(SharedEvents::new(sse_shared_bytes)),
    });
    let compaction = compactor.as_ref().map(Compactor::spawn);
    let conns = Arc::new(Conns { app, http, tls, handshake_timeout, stop: Default::default() });
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
                let conns = conns.clone();
                // Two task types: a plain connection's task stays as small as a parked
                // reader, without room for a TLS handshake.
                if let Some(tls) = conns.tls.clone() {
                    tokio::spawn(async move {
                        ended(conns.serve_tls(&tls, tcp).await);
                        drop((permit, open));
                    });
                } else {
                    tokio::spawn(async move {
                        ended(conns.serve_plain(tcp).await);
                        drop((permit, open));
                    });
                }
            }
            _ = &mut stop => break,
        }
    }
    drop(listener);
    let _ = shutdown_tx.send(true);
    conns.stop.trigger();
    // SSE readers wait on their stream alone: wake them all to see the shutdown.
    for stream in store.open_streams() {
        stream.visible.send_modify(|_| {});
    }
    // Every connection holds a permit until it ends: all of them back means all closed.
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    let closed = connections.acquire_many(all);
    if tokio::time::timeout(Duration::from_secs(10), closed).await.is_err() {
        tracing::warn!("connections still open after 10 s; closing them");
    }
    maintenance.abort();
    if let Some(d) = deliveries {
        d.abort();
    }
    if let Some(c) = compaction {
        c.abort();
    }
    if let Some(Service::Shared(s)) = &subscriptions {
        s.release_leases().await;
    }
    let (Backend::Local(store), Some(Service::Local(subscriptions))) = (store, subscriptions)
    else {
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

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn ended(result: Result<(), BoxError>) {
    if let Err(e) = result {
        tracing::debug!("connection ended: {e}");
    }
}

/// What every connection task shares.
struct Conns {
    app: Arc<App>,
    http: auto::Builder<TokioExecutor>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    handshake_timeout: Duration,
    /// Turned on with `App::shutdown`: connections finish their requests and close.
    stop: crate::stop::StopSignal,
}

impl Conns {
    /// A TLS connection: the handshake, then HTTP through hyper.
    async fn serve_tls(
        &self,
        tls: &tokio_rustls::TlsAcceptor,
        tcp: TcpStream,
    ) -> Result<(), BoxError> {
        match tokio::time::timeout(self.handshake_timeout, tls.accept(tcp)).await {
            Ok(Ok(stream)) => self.serve_http(stream).await,
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err("TLS handshake timed out".into()),
        }
    }

    /// A plain-TCP connection: HTTP through hyper, except while an SSE reader is parked
    /// outside it (see `http::park`).
    async fn serve_plain(&self, mut tcp: TcpStream) -> Result<(), BoxError> {
        loop {
            let handoff = Handoff::new();
            let io = ConnIo::new(tcp, handoff.clone());
            // Boxed: hyper's connection state is freed, not kept in this task, while parked.
            let result = Box::pin(park::scope(handoff.clone(), self.serve_http(io))).await;
            let Some((sock, head, parked)) = handoff.take() else { return result };
            drop(handoff);
            match park::serve(sock, head, parked, self.app.config.sendfile_socket_buffer_bytes)
                .await
            {
                Some(sock) if !*self.app.shutdown.borrow() => tcp = sock,
                _ => return Ok(()),
            }
        }
    }

    /// Serves HTTP/1.1 or HTTP/2 on `io` with hyper; on server shutdown, finishes the
    /// requests in flight and closes.
    async fn serve_http<I>(&self, io: I) -> Result<(), BoxError>
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let app = self.app.clone();
        let svc = service_fn(move |req| crate::metrics::request::serve(app.clone(), req));
        let conn = self.http.serve_connection(TokioIo::new(io), svc);
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => return r,
            () = self.stop.stopped() => {}
        }
        conn.as_mut().graceful_shutdown();
        conn.await
    }
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
