//! Throughput scenarios: append, create, catch-up read.

use std::io;
use std::time::Instant;

use bytes::Bytes;
use http::Method;

use super::client::Conn;
use super::stats::Samples;
use super::{cpu_secs, Outcome, Target};

const OCTET: &str = "application/octet-stream";

async fn create_stream(conn: &mut Conn, path: &str) -> io::Result<()> {
    let r = conn.call(Method::PUT, path, &[("content-type", OCTET)], Bytes::new()).await?;
    if !(r.status.is_success()) {
        return Err(io::Error::other(format!("PUT {path}: HTTP {}", r.status)));
    }
    Ok(())
}

#[derive(Default)]
struct Tally {
    ops: u64,
    errors: u64,
    samples: Samples,
}

impl Tally {
    /// Counts one successful operation started at `t0`.
    fn success(&mut self, t0: Instant) {
        self.samples.push(t0.elapsed());
        self.ops += 1;
    }
}

/// `append`: N connections appending fixed-size bodies to M streams.
pub async fn append(t: &Target, producers: bool) -> io::Result<Outcome> {
    let streams = t.args.streams.max(1);
    let mut setup = Conn::open(t.addr).await?;
    let kind = if producers { "p" } else { "a" };
    let paths: Vec<String> =
        (0..streams).map(|i| t.path(&format!("bench-{}-{kind}{i}", t.run_id))).collect();
    for p in &paths {
        create_stream(&mut setup, p).await?;
    }
    let body = Bytes::from(vec![b'x'; t.args.size]);
    let cpu0 = t.args.pid.and_then(cpu_secs);
    let start = Instant::now();
    let deadline = start + t.duration();
    let mut tasks = Vec::new();
    for c in 0..t.args.connections.max(1) {
        let paths = paths.clone();
        let body = body.clone();
        let addr = t.addr;
        let producer = format!("bench-{}-{c}", t.run_id);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut tally = Tally::default();
            let mut k = 0usize;
            while Instant::now() < deadline {
                let (path, seq) = if producers {
                    (&paths[c % paths.len()], tally.ops.to_string())
                } else {
                    (&paths[(c + k * 7919) % paths.len()], String::new())
                };
                k += 1;
                let mut headers = vec![("content-type", OCTET)];
                if producers {
                    headers.extend([("producer-id", producer.as_str()), ("producer-epoch", "0")]);
                    headers.push(("producer-seq", seq.as_str()));
                }
                let t0 = Instant::now();
                match conn.call(Method::POST, path, &headers, body.clone()).await {
                    Ok(r) if r.status.is_success() => tally.success(t0),
                    Ok(_) => tally.errors += 1,
                    Err(_) => {
                        tally.errors += 1;
                        conn = Conn::open(addr).await?;
                    }
                }
            }
            Ok::<_, io::Error>(tally)
        }));
    }
    let total = collect(tasks).await?;
    let secs = start.elapsed().as_secs_f64();
    let mut o = Outcome::new(if producers { "append-producer" } else { "append" });
    throughput(&mut o, "appends/s", total, secs, t.args.size, cpu0, t.args.pid);
    Ok(o)
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<io::Result<Tally>>>) -> io::Result<Tally> {
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await.map_err(io::Error::other)??;
        total.ops += tally.ops;
        total.errors += tally.errors;
        total.samples.merge(tally.samples);
    }
    Ok(total)
}

fn throughput(
    o: &mut Outcome,
    rate_name: &str,
    mut total: Tally,
    secs: f64,
    size: usize,
    cpu0: Option<f64>,
    pid: Option<u32>,
) {
    o.add(rate_name, total.ops as f64 / secs, "ops/s");
    if size > 0 {
        o.add("throughput", total.ops as f64 * size as f64 / secs / 1e6, "MB/s");
    }
    o.add("latency p50", total.samples.percentile_ms(50.0), "ms");
    o.add("latency p99", total.samples.percentile_ms(99.0), "ms");
    o.add("latency p999", total.samples.percentile_ms(99.9), "ms");
    o.add("errors", total.errors as f64, "count");
    if let (Some(c0), Some(c1)) = (cpu0, pid.and_then(cpu_secs)) {
        if total.ops > 0 {
            o.add("server cpu per op", (c1 - c0) * 1e6 / total.ops as f64, "us");
        }
    }
}

/// `create`: N connections creating new streams as fast as they can.
pub async fn create(t: &Target) -> io::Result<Outcome> {
    let cpu0 = t.args.pid.and_then(cpu_secs);
    let start = Instant::now();
    let deadline = start + t.duration();
    let mut tasks = Vec::new();
    for c in 0..t.args.connections.max(1) {
        let addr = t.addr;
        let base = t.path(&format!("bench-{}-c{c}-", t.run_id));
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut tally = Tally::default();
            let mut k = 0u64;
            while Instant::now() < deadline {
                let path = format!("{base}{k}");
                k += 1;
                let t0 = Instant::now();
                match create_stream(&mut conn, &path).await {
                    Ok(()) => tally.success(t0),
                    Err(_) => {
                        tally.errors += 1;
                        conn = Conn::open(addr).await?;
                    }
                }
            }
            Ok::<_, io::Error>(tally)
        }));
    }
    let total = collect(tasks).await?;
    let secs = start.elapsed().as_secs_f64();
    let mut o = Outcome::new("create");
    throughput(&mut o, "creates/s", total, secs, 0, cpu0, t.args.pid);
    Ok(o)
}

/// Makes sure the shared read stream holds at least `mib` MiB; returns its path.
async fn prefill(t: &Target, mib: usize) -> io::Result<String> {
    let path = t.path(&format!("bench-read-{mib}mib"));
    let mut conn = Conn::open(t.addr).await?;
    let head = conn.call(Method::HEAD, &path, &[], Bytes::new()).await?;
    // 64 KiB appends: some servers refuse larger bodies.
    let chunk = Bytes::from(vec![b'r'; 64 << 10]);
    let mut have = 0usize;
    if head.status.is_success() {
        // Count what is there by reading it once (offsets are opaque).
        have = read_all(&mut conn, &path, None).await?.0 as usize;
    } else {
        create_stream(&mut conn, &path).await?;
    }
    while have < mib << 20 {
        let r = conn.call(Method::POST, &path, &[("content-type", OCTET)], chunk.clone()).await?;
        if !r.status.is_success() {
            return Err(io::Error::other(format!("prefill append: HTTP {}", r.status)));
        }
        have += chunk.len();
    }
    Ok(path)
}

/// Reads a stream from the start to the tail (or until `deadline`); returns bytes and
/// requests.
async fn read_all(
    conn: &mut Conn,
    path: &str,
    deadline: Option<Instant>,
) -> io::Result<(u64, u64)> {
    let mut offset = "-1".to_string();
    let (mut bytes, mut requests) = (0u64, 0u64);
    loop {
        let r =
            conn.call(Method::GET, &format!("{path}?offset={offset}"), &[], Bytes::new()).await?;
        requests += 1;
        if r.status != http::StatusCode::OK {
            return Err(io::Error::other(format!("read {path}: HTTP {}", r.status)));
        }
        bytes += r.body.len() as u64;
        let next = r.header("stream-next-offset").unwrap_or_default().to_string();
        let late = deadline.is_some_and(|d| Instant::now() >= d);
        if r.header("stream-up-to-date") == Some("true") || next == offset || late {
            return Ok((bytes, requests));
        }
        offset = next;
    }
}

/// `read`: many connections reading a large stream from the start, repeatedly.
pub async fn read(t: &Target) -> io::Result<Outcome> {
    let path = prefill(t, t.args.read_mib).await?;
    let start = Instant::now();
    let deadline = start + t.duration();
    let mut tasks = Vec::new();
    for _ in 0..t.args.readers.max(1) {
        let addr = t.addr;
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let (mut bytes, mut requests) = (0u64, 0u64);
            while Instant::now() < deadline {
                let (b, r) = read_all(&mut conn, &path, Some(deadline)).await?;
                bytes += b;
                requests += r;
            }
            Ok::<_, io::Error>((bytes, requests))
        }));
    }
    let (mut bytes, mut requests) = (0u64, 0u64);
    for task in tasks {
        let (b, r) = task.await.map_err(io::Error::other)??;
        bytes += b;
        requests += r;
    }
    let secs = start.elapsed().as_secs_f64();
    let mut o = Outcome::new("read");
    o.add("throughput", bytes as f64 / secs / 1e6, "MB/s");
    o.add("requests/s", requests as f64 / secs, "ops/s");
    Ok(o)
}
