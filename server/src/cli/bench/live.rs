//! Live scenarios: append-to-delivery latency (SSE and long-poll) and SSE fan-out.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::Method;
use http_body_util::BodyExt;
use parking_lot::Mutex;
use tokio::sync::Barrier;

use super::client::{Conn, H2Conn};
use super::stats::Samples;
use super::{rss_kib, Outcome, Target};

const TEXT: &str = "text/plain";

/// Send instants of numbered messages, shared by the writer and the readers.
type Sent = Arc<Mutex<Vec<Option<Instant>>>>;

/// Incremental SSE reader over a streaming response body.
struct SseReader {
    /// Keeps an HTTP/1.1 connection's request handle alive while the body streams.
    _conn: Option<Conn>,
    body: hyper::body::Incoming,
    buf: BytesMut,
}

impl SseReader {
    /// Next event as (event name, joined data); `None` at the end of the stream.
    async fn next(&mut self) -> io::Result<Option<(String, String)>> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let raw = self.buf.split_to(i + 2);
                let text = String::from_utf8_lossy(&raw[..i]);
                let (mut event, mut data) = (String::from("message"), Vec::new());
                for line in text.split('\n') {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                    }
                }
                return Ok(Some((event, data.join("\n"))));
            }
            match self.body.frame().await {
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        self.buf.extend_from_slice(&d);
                    }
                }
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => return Ok(None),
            }
        }
    }
}

/// Opens an SSE reader at the tail of `path`: on a connection of its own, or as one more
/// stream of the HTTP/2 connection `h2`.
async fn open_sse(
    addr: std::net::SocketAddr,
    path: &str,
    h2: Option<&H2Conn>,
) -> io::Result<SseReader> {
    let url = format!("{path}?offset=now&live=sse");
    let (conn, resp) = match h2 {
        Some(h2) => (None, h2.get(&url).await?),
        None => {
            let mut conn = Conn::open(addr).await?;
            let resp = conn.start(Method::GET, &url, &[], Bytes::new()).await?;
            (Some(conn), resp)
        }
    };
    if !resp.status().is_success() {
        return Err(io::Error::other(format!("SSE: HTTP {}", resp.status())));
    }
    Ok(SseReader { _conn: conn, body: resp.into_body(), buf: BytesMut::new() })
}

fn record(text: &str, sent: &Sent, samples: &mut Samples, now: Instant) -> usize {
    let mut n = 0;
    for id in text.split(';').filter_map(|s| s.trim().parse::<usize>().ok()) {
        if let Some(Some(t0)) = sent.lock().get(id) {
            samples.push(now.duration_since(*t0));
            n += 1;
        }
    }
    n
}

async fn create(conn: &mut Conn, path: &str) -> io::Result<()> {
    let r = conn.call(Method::PUT, path, &[("content-type", TEXT)], Bytes::new()).await?;
    if r.status.is_success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("PUT {path}: HTTP {}", r.status)))
    }
}

/// Writes `count` numbered messages `gap` apart, noting when each was sent.
async fn write_messages(
    addr: std::net::SocketAddr,
    path: String,
    sent: Sent,
    count: usize,
    gap: Duration,
) -> io::Result<()> {
    let mut conn = Conn::open(addr).await?;
    for i in 0..count {
        sent.lock()[i] = Some(Instant::now());
        let r = conn
            .call(Method::POST, &path, &[("content-type", TEXT)], Bytes::from(format!("{i};")))
            .await?;
        if !r.status.is_success() {
            return Err(io::Error::other(format!("append: HTTP {}", r.status)));
        }
        tokio::time::sleep(gap).await;
    }
    Ok(())
}

/// `latency`: readers in each live mode measure append-to-delivery time.
pub async fn latency(t: &Target) -> io::Result<Outcome> {
    let mut o = Outcome::new("latency");
    let readers = 4;
    let count = t.args.messages.max(1);
    for mode in ["sse", "long-poll"] {
        let path = t.path(&format!("bench-{}-lat-{mode}", t.run_id));
        create(&mut Conn::open(t.addr).await?, &path).await?;
        let sent: Sent = Arc::new(Mutex::new(vec![None; count]));
        let ready = Arc::new(Barrier::new(readers + 1));
        let mut tasks = Vec::new();
        for _ in 0..readers {
            let (addr, path, sent, ready) = (t.addr, path.clone(), sent.clone(), ready.clone());
            let sse = mode == "sse";
            tasks.push(tokio::spawn(async move {
                let mut samples = Samples::default();
                let mut got = 0;
                if sse {
                    let mut r = open_sse(addr, &path, None).await?;
                    ready.wait().await;
                    while got < count {
                        match r.next().await? {
                            Some((ev, data)) if ev == "data" => {
                                got += record(&data, &sent, &mut samples, Instant::now())
                            }
                            Some(_) => {}
                            None => break,
                        }
                    }
                } else {
                    let mut conn = Conn::open(addr).await?;
                    let head = conn.call(Method::HEAD, &path, &[], Bytes::new()).await?;
                    let mut offset = head.header("stream-next-offset").unwrap_or("now").to_string();
                    ready.wait().await;
                    while got < count {
                        let url = format!("{path}?offset={offset}&live=long-poll");
                        let r = conn.call(Method::GET, &url, &[], Bytes::new()).await?;
                        let now = Instant::now();
                        got += record(&String::from_utf8_lossy(&r.body), &sent, &mut samples, now);
                        if let Some(next) = r.header("stream-next-offset") {
                            offset = next.to_string();
                        }
                    }
                }
                Ok::<_, io::Error>(samples)
            }));
        }
        ready.wait().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        write_messages(t.addr, path, sent, count, Duration::from_millis(5)).await?;
        let mut all = Samples::default();
        for task in tasks {
            match tokio::time::timeout(Duration::from_secs(30), task).await {
                Ok(r) => all.merge(r.map_err(io::Error::other)??),
                Err(_) => {
                    return Err(io::Error::other(format!(
                        "{mode} readers did not receive every message"
                    )))
                }
            }
        }
        o.add(&format!("{mode} p50"), all.percentile_ms(50.0), "ms");
        o.add(&format!("{mode} p99"), all.percentile_ms(99.0), "ms");
    }
    Ok(o)
}

/// `fanout`: many idle SSE readers on one stream; one append reaches all of them. With `h2`,
/// the readers are streams multiplexed over `--h2-connections` HTTP/2 connections.
pub async fn fanout(t: &Target, h2: bool) -> io::Result<Outcome> {
    let name = if h2 { "fanout-h2" } else { "fanout" };
    let path = t.path(&format!("bench-{}-{name}", t.run_id));
    create(&mut Conn::open(t.addr).await?, &path).await?;
    let n = t.args.fanout.max(1);
    let mut conns = Vec::new();
    if h2 {
        for _ in 0..t.args.h2_connections.max(1) {
            conns.push(H2Conn::open(t.addr).await?);
        }
    }
    let rss0 = t.args.pid.and_then(rss_kib);
    let rounds = 5;
    let sent: Sent = Arc::new(Mutex::new(vec![None; rounds]));
    let ready = Arc::new(Barrier::new(n + 1));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (addr, path, sent, ready) = (t.addr, path.clone(), sent.clone(), ready.clone());
        let h2 = (!conns.is_empty()).then(|| conns[i % conns.len()].clone());
        tasks.push(tokio::spawn(async move {
            let mut r = open_sse(addr, &path, h2.as_ref()).await?;
            // The first control event says the reader is attached at the tail.
            r.next().await?;
            ready.wait().await;
            let mut samples = Samples::default();
            let mut got = 0;
            while got < rounds {
                match r.next().await? {
                    Some((ev, data)) if ev == "data" => {
                        got += record(&data, &sent, &mut samples, Instant::now())
                    }
                    Some(_) => {}
                    None => break,
                }
            }
            Ok::<_, io::Error>(samples)
        }));
    }
    ready.wait().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss1 = t.args.pid.and_then(rss_kib);
    write_messages(t.addr, path, sent, rounds, Duration::from_millis(300)).await?;
    let mut all = Samples::default();
    for task in tasks {
        match tokio::time::timeout(Duration::from_secs(60), task).await {
            Ok(r) => all.merge(r.map_err(io::Error::other)??),
            Err(_) => {
                return Err(io::Error::other("fan-out readers did not receive every message"))
            }
        }
    }
    let mut o = Outcome::new(name);
    o.add("readers", n as f64, "count");
    if h2 {
        o.add("connections", conns.len() as f64, "count");
    }
    o.add("delivery p50", all.percentile_ms(50.0), "ms");
    o.add("delivery p99", all.percentile_ms(99.0), "ms");
    o.add("delivery max", all.percentile_ms(100.0), "ms");
    if let (Some(a), Some(b)) = (rss0, rss1) {
        o.add("server rss before", a / 1024.0, "MiB");
        o.add("server rss with readers", b / 1024.0, "MiB");
        o.add("memory per idle reader", (b - a) * 1024.0 / n as f64, "bytes");
    }
    Ok(o)
}
