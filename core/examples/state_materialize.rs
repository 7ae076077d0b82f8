//! Materializes 1,000,000 change events (100-byte values over 10,000 keys) fed as JSON
//! chunks of 1,000 events, the way a follower receives them, and prints events/s and the
//! peak RSS. The same workload for the npm package is `tests/state/npm/bench.mjs`.
//!
//! `cargo run --release -p durastream --features state --example state_materialize [EVENTS]`

use std::time::{Duration, Instant};

use durastream::state::{MalformedPolicy, MaterializedState};

const KEYS: usize = 10_000;
const CHUNK: usize = 1_000;

/// One chunk of events `start..start+n` as a JSON array. Event i touches key i % KEYS:
/// the first touch inserts, later ones update, and every 100th event is a delete.
fn chunk(start: usize, n: usize) -> String {
    let mut out = String::with_capacity(n * 200);
    out.push('[');
    for i in start..start + n {
        if i > start {
            out.push(',');
        }
        let key = i % KEYS;
        if i >= KEYS && i % 100 == 0 {
            out.push_str(&format!(
                r#"{{"type":"row","key":"k{key}","headers":{{"operation":"delete"}}}}"#
            ));
            continue;
        }
        let op = if i < KEYS { "insert" } else { "update" };
        // {"n":<i>,"s":"..."} padded to exactly 100 bytes.
        let head = format!(r#"{{"n":{i},"s":""#);
        let pad = "x".repeat(100 - head.len() - 2);
        out.push_str(&format!(
            r#"{{"type":"row","key":"k{key}","value":{head}{pad}"}},"headers":{{"operation":"{op}"}}}}"#
        ));
    }
    out.push(']');
    out
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events: usize = std::env::args().nth(1).map_or(Ok(1_000_000), |a| a.parse())?;
    let mut state = MaterializedState::new();
    let mut busy = Duration::ZERO;
    let mut bytes = 0usize;
    let mut start = 0;
    while start < events {
        let n = CHUNK.min(events - start);
        let data = chunk(start, n);
        bytes += data.len();
        let t = Instant::now();
        let out = state.apply_batch_json(data.as_bytes(), MalformedPolicy::Skip)?;
        busy += t.elapsed();
        assert!(out.malformed.is_empty());
        start += n;
    }
    let secs = busy.as_secs_f64();
    println!(
        "durastream core: {events} events ({:.0} MB of JSON) in {:.3} s: {:.0} events/s; \
         {} keys; peak RSS {} MiB",
        bytes as f64 / 1e6,
        secs,
        events as f64 / secs,
        state.total_len(),
        peak_rss_kib().unwrap_or(0) / 1024
    );
    Ok(())
}
