//! The `read` command: one core `Reader`, collected until the command's stop condition.

use std::time::Duration;

use base64::Engine as _;
use durastream::client::{Chunk, LiveMode, ReadOptions, StartOffset};
use serde_json::{json, Value};

use crate::commands::{bool_field, int_field, ok, str_field, Adapter};

impl Adapter {
    pub async fn read(&mut self, cmd: &Value) -> durastream::client::Result<Value> {
        let stream = self.stream_with_headers(cmd)?;
        let live = match cmd.get("live") {
            Some(Value::String(s)) if s == "long-poll" => LiveMode::LongPoll,
            Some(Value::String(s)) if s == "sse" => LiveMode::Sse,
            Some(Value::Bool(true)) => LiveMode::Auto,
            _ => LiveMode::Off,
        };
        let offset = str_field(cmd, "offset").map(StartOffset::from).unwrap_or_default();
        let start = offset.clone();
        let timeout =
            Duration::from_millis(int_field(cmd, "timeoutMs").unwrap_or(5000).max(0) as u64);
        let max_chunks = int_field(cmd, "maxChunks").unwrap_or(100).max(1) as usize;
        let wait_up_to_date = bool_field(cmd, "waitForUpToDate");
        let mut reader = stream.read(ReadOptions::new().offset(offset).live(live));
        let deadline = tokio::time::Instant::now() + timeout;

        let mut chunks = Vec::new();
        let mut last_offset: Option<String> = None;
        let mut cursor: Option<String> = None;
        let mut up_to_date = false;
        let mut closed = false;
        let mut last_status = 200;
        loop {
            let next = if live == LiveMode::Off {
                Ok(reader.next_chunk().await)
            } else {
                tokio::time::timeout_at(deadline, reader.next_chunk()).await
            };
            let chunk = match next {
                Err(_) => {
                    // The command's own time limit: not an error.
                    up_to_date = true;
                    break;
                }
                Ok(Err(e)) => return Err(e),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(c))) => c,
            };
            last_status = chunk.status;
            last_offset = Some(chunk.next_offset.clone());
            if chunk.cursor.is_some() {
                cursor.clone_from(&chunk.cursor);
            }
            up_to_date = chunk.up_to_date;
            closed = chunk.closed;
            if !chunk.is_empty() {
                chunks.push(chunk_json(&chunk));
            }
            if live != LiveMode::Off
                && (chunks.len() >= max_chunks
                    || (wait_up_to_date && chunk.up_to_date)
                    || chunk.closed)
            {
                break;
            }
        }
        let status = if chunks.is_empty() && last_status == 204 { 204 } else { 200 };
        let mut extra = json!({
            "status": status,
            "chunks": chunks,
            "upToDate": up_to_date,
            "streamClosed": closed,
        });
        let offset = last_offset.or(match start {
            StartOffset::At(o) => Some(o),
            _ => None,
        });
        if let Some(o) = offset {
            extra["offset"] = json!(o);
        }
        if let Some(c) = cursor {
            extra["cursor"] = json!(c);
        }
        let mut v = ok("read", extra);
        self.dynamic.report(&mut v);
        Ok(v)
    }
}

/// `{data, binary?, offset}`: JSON arrays compacted, other text as is, other bytes base64.
fn chunk_json(chunk: &Chunk) -> Value {
    let (data, binary) = match std::str::from_utf8(&chunk.data) {
        Ok(text) if chunk.json => (durastream::json::minify(text), false),
        Ok(text) => (text.to_string(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(&chunk.data), true),
    };
    let mut v = json!({"data": data, "offset": chunk.next_offset});
    if binary {
        v["binary"] = json!(true);
    }
    v
}
