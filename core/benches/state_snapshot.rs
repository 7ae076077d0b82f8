//! A new state follower of a stream holding many events: time to a consistent state from
//! the server's snapshot (state compaction) against replaying every event.
//!
//! `flock /work/bench.lock cargo bench -p durastream --features client,state --bench state_snapshot`
//! Sizes: `DS_BENCH_EVENTS` (default 1,000,000), `DS_BENCH_KEYS` (10,000); 100-byte values.
//! The server runs in-process on the file engine in a temporary directory.

use std::time::Instant;

use durastream::client::{Client, CreateOptions, LiveMode};
use durastream::state::{FollowerOptions, StateFollower};
use durastream_server::compact::CompactConfig;
use durastream_server::{Config, Server};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn follow(stream: &durastream::client::DurableStream, snapshots: bool) -> (f64, usize) {
    let opts = FollowerOptions::default().live(LiveMode::Off).snapshots(snapshots);
    let started = Instant::now();
    let mut f = StateFollower::new(stream.clone(), opts);
    assert!(f.wait_consistent().await.expect("follow"), "reached a consistent state");
    (started.elapsed().as_secs_f64(), f.state().total_len())
}

/// Appends events `from..to` (upserts over `keys` keys, 100-byte values) in batches.
async fn append_events(
    stream: &durastream::client::DurableStream,
    from: usize,
    to: usize,
    keys: usize,
) {
    // 100-byte values: {"v":"xxx…"} padded to 100 bytes.
    let pad = "x".repeat(100 - r#"{"v":""}"#.len());
    let batch = 10_000;
    let mut i = from;
    while i < to {
        let mut body = String::with_capacity(batch * 170);
        body.push('[');
        for j in i..(i + batch).min(to) {
            if j > i {
                body.push(',');
            }
            let op = if j < keys { "insert" } else { "update" };
            body.push_str(&format!(
                r#"{{"type":"item","key":"k{}","value":{{"v":"{pad}"}},"headers":{{"operation":"{op}"}}}}"#,
                j % keys
            ));
        }
        body.push(']');
        stream.append(body).await.expect("append");
        i += batch;
    }
}

/// Compacts the benchmark's stream: seconds taken and the server's answer.
async fn compact(server_url: &str) -> (f64, String) {
    let started = Instant::now();
    let r = reqwest::Client::new()
        .post(format!("{server_url}/v1/stream/__ds/compact/bench-room"))
        .send()
        .await
        .expect("compact");
    assert_eq!(r.status(), 201);
    let seconds = started.elapsed().as_secs_f64();
    (seconds, r.text().await.expect("body"))
}

#[tokio::main]
async fn main() {
    let events = env("DS_BENCH_EVENTS", 1_000_000);
    let keys = env("DS_BENCH_KEYS", 10_000);
    let dir = std::env::temp_dir().join(format!("ds-state-bench-{}", std::process::id()));
    let config = Config {
        state_compaction: Some(CompactConfig::default()),
        max_body_bytes: 64 * 1024 * 1024,
        ..Config::file(&dir)
    };
    let server = Server::start(config).await.expect("server");
    let url = format!("{}/v1/stream/bench-room", server.url());
    let stream = Client::new().stream(&url).expect("url");
    stream.create(CreateOptions::new().content_type("application/json")).await.expect("create");

    let started = Instant::now();
    append_events(&stream, 0, events, keys).await;
    let tail = stream.head().await.expect("head").next_offset;
    let bytes: u64 = tail.rsplit('_').next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let write_s = started.elapsed().as_secs_f64();

    let (compact_s, snap_bytes) = compact(&server.url()).await;

    let (replay_s, n1) = follow(&stream, false).await;
    let (snap_s, n2) = follow(&stream, true).await;
    assert_eq!(n1, n2);

    // 1 % more events, then a compaction that starts from the snapshot.
    append_events(&stream, events, events + events / 100, keys).await;
    let (again_s, _) = compact(&server.url()).await;
    println!(
        "stream: {events} events over {keys} keys, {:.1} MB (written in {write_s:.1} s)",
        bytes as f64 / 1e6
    );
    println!("compaction (first, whole stream): {compact_s:.3} s; {snap_bytes}");
    println!(
        "new follower, replay everything: {replay_s:.3} s ({:.0} events/s)",
        events as f64 / replay_s
    );
    println!("new follower, from the snapshot:  {snap_s:.3} s ({:.1}x faster)", replay_s / snap_s);
    println!("compaction after {} more events (from the snapshot): {again_s:.3} s", events / 100);
    server.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
