//! Materializes 1,000,000 change events (100-byte values over 10,000 keys) fed as JSON
//! chunks of 1,000 events, the way a follower receives them, and prints events/s and the
//! peak RSS. The same workload for the npm package is `tests/state/npm/bench.mjs`.
//!
//! Each way is timed in turn over the same events: `apply_batch_json_quiet` (no change
//! records, what a binding does when nobody listens), `apply_batch_json` (with change
//! records), and the full path alone (`parse_batch` + `apply_parsed`, every event parsed
//! into a `StateEvent`: how every batch was applied before the fast path). Wall time and
//! the thread's CPU time are both shown: on a shared machine the CPU time is what the work
//! costs.
//!
//! `cargo run --release -p durastream --features state --example state_materialize [EVENTS [ONLY]]`

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

/// The CPU time this thread has run, from /proc (Linux); zero elsewhere.
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = text.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
    Duration::from_nanos(ns)
}

type Apply = fn(&mut MaterializedState, &[u8]) -> durastream::state::Result<usize>;

fn run(name: &str, events: usize, apply: Apply) -> Result<(), Box<dyn std::error::Error>> {
    // A second argument runs only the ways whose name contains it (for a profile of one).
    if std::env::args().nth(2).is_some_and(|only| !name.contains(&only)) {
        return Ok(());
    }
    let mut state = MaterializedState::new();
    let (mut busy, mut cpu) = (Duration::ZERO, Duration::ZERO);
    let mut bytes = 0usize;
    let mut start = 0;
    while start < events {
        let n = CHUNK.min(events - start);
        let data = chunk(start, n);
        bytes += data.len();
        let (t, c) = (Instant::now(), thread_cpu());
        let applied = apply(&mut state, data.as_bytes())?;
        cpu += thread_cpu().saturating_sub(c);
        busy += t.elapsed();
        assert_eq!(applied, n);
        start += n;
    }
    let (secs, cpu_secs) = (busy.as_secs_f64(), cpu.as_secs_f64());
    println!(
        "{name}: {events} events ({:.0} MB of JSON) in {secs:.3} s: {:.0} events/s \
         (CPU {cpu_secs:.3} s: {:.0} events/s); {} keys",
        bytes as f64 / 1e6,
        events as f64 / secs,
        events as f64 / cpu_secs,
        state.total_len(),
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events: usize = std::env::args().nth(1).map_or(Ok(1_000_000), |a| a.parse())?;
    run("apply_batch_json_quiet", events, |s, d| {
        Ok(s.apply_batch_json_quiet(d, MalformedPolicy::Skip)?.applied)
    })?;
    run("apply_batch_json", events, |s, d| {
        Ok(s.apply_batch_json(d, MalformedPolicy::Skip)?.changes.len())
    })?;
    run("full path (parse_batch + apply_parsed)", events, |s, d| {
        let parsed = durastream::state::parse_batch(d)?;
        Ok(s.apply_parsed(parsed, MalformedPolicy::Skip)?.changes.len())
    })?;
    println!("peak RSS of the run {} MiB", peak_rss_kib().unwrap_or(0) / 1024);
    Ok(())
}
