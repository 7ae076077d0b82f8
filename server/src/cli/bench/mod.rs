//! `durastream bench`: a load generator for any Durable Streams server.
//!
//! Scenarios: `append`, `create`, `read`, `latency`, `fanout`, `fanout-h2` (or `all`). Results print as a
//! table on stderr-free stdout, and as JSON with `--json FILE`.

mod client;
mod live;
mod load;
mod stats;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Serialize;

/// Which measurement to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Appends of fixed-size bodies from many connections to many streams.
    Append,
    /// Appends through idempotent producers (Producer-Id/Epoch/Seq headers).
    AppendProducer,
    /// Concurrent stream creation.
    Create,
    /// Catch-up reads of a large pre-filled stream.
    Read,
    /// Append-to-delivery latency for SSE and long-poll readers.
    Latency,
    /// One append delivered to many idle SSE readers; server memory per reader.
    Fanout,
    /// `fanout` with the readers multiplexed over a few HTTP/2 connections (h2c).
    FanoutH2,
    /// Every scenario above, in order.
    All,
}

/// Options of `durastream bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Scenarios to run.
    #[arg(value_enum, default_values = ["all"])]
    pub scenarios: Vec<Scenario>,
    /// Path prefix of streams on that server.
    #[arg(long, default_value = "/v1/stream")]
    pub prefix: String,
    /// Seconds each throughput scenario runs.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Concurrent connections (append, create).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Streams the append scenario spreads over.
    #[arg(long, default_value_t = 100)]
    pub streams: usize,
    /// Append body size in bytes.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Size of the pre-filled stream for `read`, in MiB.
    #[arg(long, default_value_t = 100)]
    pub read_mib: usize,
    /// Concurrent readers for `read`.
    #[arg(long, default_value_t = 16)]
    pub readers: usize,
    /// Messages sent in the `latency` scenario (per mode).
    #[arg(long, default_value_t = 300)]
    pub messages: usize,
    /// SSE readers in the `fanout` scenarios.
    #[arg(long, default_value_t = 1000)]
    pub fanout: usize,
    /// HTTP/2 connections the `fanout-h2` readers share.
    #[arg(long, default_value_t = 10)]
    pub h2_connections: usize,
    /// PID of the server, to report its memory and CPU time.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

/// The figures of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: String,
    pub metrics: Vec<Metric>,
}

impl Outcome {
    fn new(scenario: &str) -> Outcome {
        Outcome { scenario: scenario.to_string(), metrics: Vec::new() }
    }

    fn add(&mut self, name: &str, value: f64, unit: &str) {
        self.metrics.push(Metric { name: name.into(), value, unit: unit.into() });
    }
}

/// Shared settings of a run.
pub struct Target {
    pub addr: SocketAddr,
    pub prefix: String,
    pub run_id: String,
    pub args: BenchArgs,
}

impl Target {
    fn path(&self, name: &str) -> String {
        format!("{}/{}", self.prefix.trim_end_matches('/'), name)
    }

    fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.args.duration.max(0.1))
    }
}

fn resolve(url: &str) -> std::io::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    let hostport = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("only http:// URLs can be benchmarked"))?;
    let hostport = hostport.split('/').next().unwrap_or(hostport);
    hostport
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("cannot resolve {hostport}")))
}

/// Runs the chosen scenarios and prints the results.
/// `url` names the server (its path, if any, is ignored: streams live under `--prefix`).
pub async fn run(url: &str, args: BenchArgs) -> std::io::Result<()> {
    let target = Target {
        addr: resolve(url)?,
        prefix: args.prefix.clone(),
        run_id: format!("{:08x}", rand::random::<u32>()),
        args: args.clone(),
    };
    let mut list: Vec<Scenario> = Vec::new();
    for s in &args.scenarios {
        if *s == Scenario::All {
            list.extend([
                Scenario::Append,
                Scenario::AppendProducer,
                Scenario::Create,
                Scenario::Read,
                Scenario::Latency,
                Scenario::Fanout,
                Scenario::FanoutH2,
            ]);
        } else {
            list.push(*s);
        }
    }
    let mut outcomes = Vec::new();
    for s in list {
        let o = match s {
            Scenario::Append => load::append(&target, false).await?,
            Scenario::AppendProducer => load::append(&target, true).await?,
            Scenario::Create => load::create(&target).await?,
            Scenario::Read => load::read(&target).await?,
            Scenario::Latency => live::latency(&target).await?,
            Scenario::Fanout => live::fanout(&target, false).await?,
            Scenario::FanoutH2 => live::fanout(&target, true).await?,
            Scenario::All => continue,
        };
        print_outcome(&o);
        outcomes.push(o);
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&outcomes).map_err(std::io::Error::other)?)?;
    }
    Ok(())
}

fn print_outcome(o: &Outcome) {
    println!("{}", o.scenario);
    for m in &o.metrics {
        println!("  {:<28} {:>14.3} {}", m.name, m.value, m.unit);
    }
}

/// Resident memory of a process in KiB (Linux).
pub fn rss_kib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// User plus system CPU time of a process in seconds (Linux).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
