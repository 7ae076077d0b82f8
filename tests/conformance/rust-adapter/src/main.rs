//! Client-conformance adapter for the durastream Rust client.
//!
//! Speaks `shared/conformance/client/ADAPTER_PROTOCOL.md`: one JSON command per stdin line,
//! exactly one JSON result per stdout line, in order. Every command becomes calls on
//! `durastream::client`; this crate holds no protocol logic of its own, only argument
//! conversion, the per-path handle and producer caches the protocol asks for, and the
//! mapping of client errors to the protocol's error codes.
//!
//! It owns the only tokio runtime, as every binding does. Logs go to stderr.

mod commands;
mod dynamic;
mod error;
mod producer;
mod reader;

use std::io::{BufRead, Write};

use serde_json::{json, Value};

use commands::Adapter;

fn main() {
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("cannot start the tokio runtime: {e}");
                std::process::exit(1);
            }
        };
    let mut adapter = Adapter::default();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let (answer, shutdown) = match serde_json::from_str::<Value>(&line) {
            Ok(cmd) => {
                let kind = cmd.get("type").and_then(Value::as_str).unwrap_or("").to_string();
                let answer = runtime.block_on(adapter.handle(&kind, &cmd));
                (answer, kind == "shutdown")
            }
            Err(e) => (
                json!({"type": "error", "success": false, "commandType": "unknown",
                       "errorCode": "PARSE_ERROR", "message": format!("bad command line: {e}")}),
                false,
            ),
        };
        let text = answer.to_string();
        if writeln!(stdout, "{text}").and_then(|()| stdout.flush()).is_err() {
            break;
        }
        if shutdown {
            break;
        }
    }
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
}
