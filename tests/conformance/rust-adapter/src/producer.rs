//! The `idempotent-*` commands, on the core client's `Producer`.

use std::time::Duration;

use durastream::client::{Producer, ProducerOptions};
use serde_json::{json, Value};

use crate::commands::{bool_field, int_field, ok, str_field, Adapter};

fn options(cmd: &Value) -> ProducerOptions {
    ProducerOptions {
        epoch: int_field(cmd, "epoch").and_then(|e| u64::try_from(e).ok()).unwrap_or(0),
        auto_claim: bool_field(cmd, "autoClaim"),
        ..ProducerOptions::default()
    }
}

impl Adapter {
    /// The cached producer for (path, id, epoch), created on first use.
    fn cached_producer(&mut self, cmd: &Value) -> durastream::client::Result<Producer> {
        let opts = options(cmd);
        let key = (
            str_field(cmd, "path").unwrap_or("/").to_string(),
            str_field(cmd, "producerId").unwrap_or("").to_string(),
            opts.epoch,
        );
        if let Some(p) = self.producers.get(&key) {
            return Ok(p.clone());
        }
        let p = self.stream_with_headers(cmd)?.producer(&key.1, opts)?;
        self.producers.insert(key, p.clone());
        Ok(p)
    }

    pub async fn idempotent_append(&mut self, cmd: &Value) -> durastream::client::Result<Value> {
        let p = self.cached_producer(cmd)?;
        p.append(str_field(cmd, "data").unwrap_or("").as_bytes())?;
        p.flush().await?;
        let mut extra = json!({"status": 200, "producerSeq": p.next_seq().saturating_sub(1)});
        if let Some(o) = p.last_offset() {
            extra["offset"] = json!(o);
        }
        Ok(ok("idempotent-append", extra))
    }

    pub async fn idempotent_append_batch(
        &mut self,
        cmd: &Value,
    ) -> durastream::client::Result<Value> {
        let mut opts = options(cmd);
        let in_flight = int_field(cmd, "maxInFlight").unwrap_or(1).max(1) as usize;
        opts.max_in_flight = in_flight;
        if in_flight > 1 {
            // Tiny batches so that several requests really are in flight at once.
            opts.max_batch_bytes = 1;
            opts.linger = Duration::ZERO;
        }
        let id = str_field(cmd, "producerId").unwrap_or("");
        let p = self.stream_with_headers(cmd)?.producer(id, opts)?;
        let items: Vec<&str> = match cmd.get("items") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for item in items {
            p.append_wait(item.as_bytes()).await?;
        }
        p.flush().await?;
        p.detach().await?;
        Ok(ok(
            "idempotent-append-batch",
            json!({"status": 200, "producerSeq": p.next_seq().saturating_sub(1)}),
        ))
    }

    pub async fn idempotent_close(&mut self, cmd: &Value) -> durastream::client::Result<Value> {
        let p = self.cached_producer(cmd)?;
        let data = str_field(cmd, "data").filter(|d| !d.is_empty());
        let r = p.close(data.map(str::as_bytes)).await?;
        Ok(ok("idempotent-close", json!({"status": 200, "finalOffset": r.final_offset})))
    }

    pub async fn idempotent_detach(&mut self, cmd: &Value) -> durastream::client::Result<Value> {
        let epoch = options(cmd).epoch;
        let key = (
            str_field(cmd, "path").unwrap_or("/").to_string(),
            str_field(cmd, "producerId").unwrap_or("").to_string(),
            epoch,
        );
        if let Some(p) = self.producers.remove(&key) {
            p.detach().await?;
        }
        Ok(ok("idempotent-detach", json!({"status": 200})))
    }
}
