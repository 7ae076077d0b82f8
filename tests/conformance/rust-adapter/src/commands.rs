//! Command dispatch and the stream-level commands (create, connect, append, head, delete,
//! close, dynamic headers, validate).

use std::collections::HashMap;

use base64::Engine as _;
use durastream::client::{
    AppendOptions, Client, CreateOptions, DurableStream, Producer, ProducerOptions, RetryOptions,
};
use serde_json::{json, Value};

use crate::dynamic::Dynamic;
use crate::error;

/// Everything kept between commands.
#[derive(Default)]
pub struct Adapter {
    pub client: Option<Client>,
    pub server_url: String,
    /// One handle per path: it remembers the stream's content type.
    pub handles: HashMap<String, DurableStream>,
    /// Producers kept for `idempotent-append` / `-close` / `-detach`, by (path, id, epoch).
    pub producers: HashMap<(String, String, u64), Producer>,
    pub dynamic: Dynamic,
}

/// Field accessors over a command object.
pub fn str_field<'a>(cmd: &'a Value, key: &str) -> Option<&'a str> {
    cmd.get(key).and_then(Value::as_str)
}
pub fn num_field(cmd: &Value, key: &str) -> Option<f64> {
    cmd.get(key).and_then(Value::as_f64)
}
pub fn int_field(cmd: &Value, key: &str) -> Option<i64> {
    num_field(cmd, key).map(|f| f as i64)
}
pub fn bool_field(cmd: &Value, key: &str) -> bool {
    cmd.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// A success result of `command` with extra fields.
pub fn ok(command: &str, extra: Value) -> Value {
    let mut v = json!({"type": command, "success": true});
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v
}

impl Adapter {
    pub async fn handle(&mut self, kind: &str, cmd: &Value) -> Value {
        if kind == "init" {
            return self.init(cmd);
        }
        if kind == "shutdown" {
            return ok("shutdown", json!({}));
        }
        if self.client.is_none() && kind != "validate" {
            return error::plain(kind, "INTERNAL_ERROR", "init has not been received");
        }
        let result = match kind {
            "create" => self.create(cmd).await,
            "connect" => self.connect(cmd).await,
            "append" => self.append(cmd).await,
            "read" => self.read(cmd).await,
            "head" => self.head(cmd).await,
            "delete" => self.delete(cmd).await,
            "close" => self.close(cmd).await,
            "idempotent-append" => self.idempotent_append(cmd).await,
            "idempotent-append-batch" => self.idempotent_append_batch(cmd).await,
            "idempotent-close" => self.idempotent_close(cmd).await,
            "idempotent-detach" => self.idempotent_detach(cmd).await,
            "set-dynamic-header" | "set-dynamic-param" | "clear-dynamic" => {
                return self.dynamic_cmd(kind, cmd)
            }
            "validate" => return validate(cmd),
            other => {
                return error::plain(other, "NOT_SUPPORTED", &format!("unknown command {other:?}"))
            }
        };
        result.unwrap_or_else(|e| error::result(kind, &e))
    }

    fn init(&mut self, cmd: &Value) -> Value {
        if let Some(c) = &self.client {
            self.dynamic.clear(c);
        }
        self.handles.clear();
        self.producers.clear();
        self.dynamic = Dynamic::default();
        self.server_url =
            str_field(cmd, "serverUrl").unwrap_or("").trim_end_matches('/').to_string();
        match Client::builder().build() {
            Ok(c) => self.client = Some(c),
            Err(e) => return error::result("init", &e),
        }
        ok(
            "init",
            json!({
                "clientName": "durastream-rust",
                "clientVersion": env!("CARGO_PKG_VERSION"),
                "features": {
                    "sse": true, "longPoll": true, "auto": true, "streaming": true,
                    "batching": true, "dynamicHeaders": true, "retryOptions": true,
                    "strictZeroValidation": true, "batchItems": true,
                },
            }),
        )
    }

    fn client(&self) -> durastream::client::Result<&Client> {
        self.client
            .as_ref()
            .ok_or_else(|| durastream::client::Error::invalid_argument("init", "no init"))
    }

    /// The cached handle for a path (created on first use).
    pub fn stream(&mut self, cmd: &Value) -> durastream::client::Result<DurableStream> {
        let path = str_field(cmd, "path").unwrap_or("/").to_string();
        if let Some(s) = self.handles.get(&path) {
            return Ok(s.clone());
        }
        let s = self.client()?.stream(&format!("{}{}", self.server_url, path))?;
        self.handles.insert(path, s.clone());
        Ok(s)
    }

    /// The handle with the command's extra `headers`.
    pub fn stream_with_headers(
        &mut self,
        cmd: &Value,
    ) -> durastream::client::Result<DurableStream> {
        let mut s = self.stream(cmd)?;
        if let Some(Value::Object(headers)) = cmd.get("headers") {
            for (k, v) in headers {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                s = s.with_header(k, &text)?;
            }
        }
        Ok(s)
    }

    async fn create(&mut self, cmd: &Value) -> durastream::client::Result<Value> {
        let s = self.stream_with_headers(cmd)?;
        let mut opts = CreateOptions::new()
            .content_type(str_field(cmd, "contentType").unwrap_or("application/octet-stream"))
            .closed(bool_field(cmd, "closed"));
        if let Some(ttl) = int_field(cmd, "ttlSeconds") {
            opts.ttl_seconds = u64::try_from(ttl).ok();
        }
        if let Some(at) = str_field(cmd, "expiresAt") {
            opts = opts.expires_at(at);
        }
        if let Some(data) = str_field(cmd, "data") {
            opts = opts.body(data.as_bytes().to_vec());
        }
        let r = s.create(opts).await?;
        let mut extra = json!({"status": r.status});
        if let Some(o) = r.next_offset {
            extra["offset"] = json!(o);
        }
        Ok(ok("create", extra))
    }

    async fn connect(&mut self, cmd: &Value) -> durastream::client::Result<Value> {
        let info = self.stream_with_headers(cmd)?.head().await?;
        Ok(ok("connect", json!({"status": 200, "offset": info.next_offset})))
    }

    async fn append(&mut self, cmd: &Value) -> durastream::client::Result<Value> {
        let s = self.stream_with_headers(cmd)?;
        let data = payload(cmd)?;
        let opts =
            AppendOptions { seq: int_field(cmd, "seq").map(|n| n.to_string()), content_type: None };
        let r = s.append_with(data, opts).await?;
        let mut v = ok("append", json!({"status": 200, "offset": r.next_offset}));
        self.dynamic.report(&mut v);
        Ok(v)
    }

    async fn head(&mut self, cmd: &Value) -> durastream::client::Result<Value> {
        let info = self.stream_with_headers(cmd)?.head().await?;
        let mut extra = json!({
            "status": 200,
            "offset": info.next_offset,
            "streamClosed": info.closed,
        });
        if let Some(ct) = info.content_type {
            extra["contentType"] = json!(ct);
        }
        if let Some(ttl) = info.ttl_seconds {
            extra["ttlSeconds"] = json!(ttl);
        }
        if let Some(at) = info.expires_at {
            extra["expiresAt"] = json!(at);
        }
        Ok(ok("head", extra))
    }

    async fn delete(&mut self, cmd: &Value) -> durastream::client::Result<Value> {
        let s = self.stream_with_headers(cmd)?;
        let path = str_field(cmd, "path").unwrap_or("/").to_string();
        let r = s.delete().await;
        self.handles.remove(&path);
        self.producers.retain(|k, _| k.0 != path);
        r?;
        Ok(ok("delete", json!({"status": 200})))
    }

    async fn close(&mut self, cmd: &Value) -> durastream::client::Result<Value> {
        let s = self.stream_with_headers(cmd)?;
        if let Some(ct) = str_field(cmd, "contentType") {
            s.set_content_type(ct);
        }
        let r = match str_field(cmd, "data") {
            Some(d) if !d.is_empty() => s.close_with(d.as_bytes().to_vec()).await?,
            _ => s.close().await?,
        };
        Ok(ok("close", json!({"finalOffset": r.final_offset})))
    }

    fn dynamic_cmd(&mut self, kind: &str, cmd: &Value) -> Value {
        let Some(client) = self.client.clone() else {
            return error::plain(kind, "INTERNAL_ERROR", "init has not been received");
        };
        let name = str_field(cmd, "name").unwrap_or("");
        let value_type = str_field(cmd, "valueType").unwrap_or("");
        let r = match kind {
            "set-dynamic-header" => {
                self.dynamic.set_header(&client, name, value_type, str_field(cmd, "initialValue"))
            }
            "set-dynamic-param" => self.dynamic.set_param(&client, name, value_type),
            _ => {
                self.dynamic.clear(&client);
                Ok(())
            }
        };
        match r {
            Ok(()) => ok(kind, json!({})),
            Err(m) => error::plain(kind, "INVALID_ARGUMENT", &m),
        }
    }
}

/// The append body: text, or base64-decoded bytes when `binary` is set.
pub fn payload(cmd: &Value) -> durastream::client::Result<Vec<u8>> {
    let data = str_field(cmd, "data").unwrap_or("");
    if bool_field(cmd, "binary") {
        base64::engine::general_purpose::STANDARD.decode(data).map_err(|e| {
            durastream::client::Error::invalid_argument(
                "data",
                format!("binary data is not base64: {e}"),
            )
        })
    } else {
        Ok(data.as_bytes().to_vec())
    }
}

fn validate(cmd: &Value) -> Value {
    let target = cmd.get("target").cloned().unwrap_or(Value::Null);
    let r = match str_field(&target, "target") {
        Some("retry-options") => RetryOptions::from_raw(
            int_field(&target, "maxRetries"),
            num_field(&target, "initialDelayMs"),
            num_field(&target, "maxDelayMs"),
            num_field(&target, "multiplier"),
        )
        .map(|_| ()),
        Some("idempotent-producer") => ProducerOptions::from_raw(
            str_field(&target, "producerId"),
            int_field(&target, "epoch"),
            int_field(&target, "maxBatchBytes"),
            int_field(&target, "maxBatchItems"),
            int_field(&target, "maxInFlight"),
            num_field(&target, "lingerMs"),
        )
        .map(|_| ()),
        other => {
            return error::plain(
                "validate",
                "NOT_SUPPORTED",
                &format!("unknown validation target {other:?}"),
            )
        }
    };
    match r {
        Ok(()) => ok("validate", json!({})),
        Err(e) => error::result("validate", &e),
    }
}
