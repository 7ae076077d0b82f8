//! The test-only fault endpoint (`/_test/inject-error`), on only with `--test-faults`.
//!
//! Client conformance tests use it to make the server fail in controlled ways: delays,
//! dropped connections, error statuses, truncated or corrupted bodies, injected SSE events.
//! Semantics follow the client conformance material (ADAPTER_PROTOCOL.md section 7).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use parking_lot::Mutex;
use serde::Deserialize;

use super::response::{full, Reply};

/// Path of the fault endpoint.
pub const PATH: &str = "/_test/inject-error";

/// Longest injected delay, jitter included: larger `delayMs` or `jitterMs` are cut to it.
pub const MAX_DELAY_MS: u64 = 60_000;

/// The delay of a fault: `delay_ms` plus a random part of `jitter_ms` (from `random`), both
/// capped so that no value overflows or sleeps for longer than [`MAX_DELAY_MS`].
pub fn fault_delay(delay_ms: u64, jitter_ms: Option<u64>, random: u64) -> Duration {
    let jitter = jitter_ms.map_or(0, |j| random % (j.min(MAX_DELAY_MS) + 1));
    Duration::from_millis(delay_ms.saturating_add(jitter).min(MAX_DELAY_MS))
}

/// An SSE event to emit before the normal ones.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SseEvent {
    pub event_type: String,
    pub data: String,
}

/// One configured fault.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    pub path: String,
    pub status: Option<u16>,
    pub retry_after: Option<u64>,
    pub count: Option<i64>,
    pub delay_ms: Option<u64>,
    pub jitter_ms: Option<u64>,
    pub drop_connection: Option<bool>,
    pub truncate_body_bytes: Option<usize>,
    pub corrupt_body: Option<bool>,
    pub probability: Option<f64>,
    pub method: Option<String>,
    pub inject_sse_event: Option<SseEvent>,
}

impl Fault {
    fn has_effect(&self) -> bool {
        self.status.is_some()
            || self.delay_ms.is_some()
            || self.drop_connection == Some(true)
            || self.truncate_body_bytes.is_some()
            || self.corrupt_body == Some(true)
            || self.inject_sse_event.is_some()
    }
}

/// Configured faults, one per path.
#[derive(Default)]
pub struct Faults {
    by_path: Mutex<HashMap<String, (Fault, i64)>>,
}

/// What a triggered fault does before normal handling.
pub enum Before {
    /// Close the connection without answering.
    Drop,
    /// Answer with this response instead.
    Answer(Reply),
    /// Handle normally, then mutate the response.
    Mutate(Fault),
}

impl Faults {
    /// Handles `POST` (add) and `DELETE` (clear) on the endpoint.
    pub fn control(&self, method: &http::Method, body: &[u8]) -> Reply {
        let ok = || {
            Reply::new(StatusCode::OK)
                .header("content-type", "application/json")
                .body(full("{\"ok\":true}"))
        };
        match *method {
            http::Method::DELETE => {
                self.by_path.lock().clear();
                ok()
            }
            http::Method::POST => match serde_json::from_slice::<Fault>(body) {
                Ok(f) if !f.path.is_empty() && f.has_effect() => {
                    let count = f.count.unwrap_or(1).max(1);
                    self.by_path.lock().insert(f.path.clone(), (f, count));
                    ok()
                }
                Ok(_) => super::response::error(
                    StatusCode::BAD_REQUEST,
                    "a fault needs a path and an effect",
                ),
                Err(e) => super::response::error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid fault JSON: {e}"),
                ),
            },
            _ => super::response::error(StatusCode::METHOD_NOT_ALLOWED, "use POST or DELETE"),
        }
    }

    /// Takes the fault matching a request, if one triggers, after its delay.
    pub async fn before(&self, method: &http::Method, path: &str) -> Option<Before> {
        if method == http::Method::OPTIONS {
            return None;
        }
        let fault = {
            let mut map = self.by_path.lock();
            let (f, count) = map.get_mut(path)?;
            if f.method.as_ref().is_some_and(|m| !m.eq_ignore_ascii_case(method.as_str())) {
                return None;
            }
            if f.probability.is_some_and(|p| rand::random::<f64>() >= p) {
                return None;
            }
            *count -= 1;
            let f = f.clone();
            if *count <= 0 {
                map.remove(path);
            }
            f
        };
        if let Some(d) = fault.delay_ms.filter(|d| *d > 0) {
            tokio::time::sleep(fault_delay(d, fault.jitter_ms, rand::random())).await;
        }
        if fault.drop_connection == Some(true) {
            return Some(Before::Drop);
        }
        if let Some(status) = fault.status {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut r = super::response::error(status, "injected fault");
            if let Some(s) = fault.retry_after {
                r = r.header("retry-after", s.to_string());
            }
            return Some(Before::Answer(r));
        }
        Some(Before::Mutate(fault))
    }
}

/// Applies a fault's mutation to a normal response.
pub async fn mutate(fault: &Fault, method: &http::Method, reply: Reply) -> Reply {
    let is_sse = reply
        .headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if is_sse {
        if let Some(ev) = &fault.inject_sse_event {
            let mut text = format!("event: {}\n", ev.event_type);
            for line in ev.data.split('\n') {
                text.push_str("data: ");
                text.push_str(line);
                text.push('\n');
            }
            text.push('\n');
            return super::sse::inject(reply, Bytes::from(text));
        }
        return reply;
    }
    let wants_change = fault.truncate_body_bytes.is_some() || fault.corrupt_body == Some(true);
    if method != http::Method::GET || reply.status != StatusCode::OK || !wants_change {
        return reply;
    }
    let Ok(collected) = reply.body.collect().await else {
        return Reply {
            status: reply.status,
            headers: reply.headers,
            body: super::response::empty(),
        };
    };
    let mut bytes = collected.to_bytes().to_vec();
    if let Some(n) = fault.truncate_body_bytes {
        bytes.truncate(n);
    }
    if fault.corrupt_body == Some(true) && !bytes.is_empty() {
        bytes[0] = b'X';
        if bytes.len() > 1 {
            bytes[1] = b'Y';
        }
        let n = (bytes.len() / 10).max(1);
        for _ in 0..n {
            let i = rand::random::<usize>() % bytes.len();
            bytes[i] = b'Z';
        }
    }
    Reply { status: reply.status, headers: reply.headers, body: full(bytes) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_delays_and_jitter_are_capped_not_overflowing() {
        let max = Duration::from_millis(MAX_DELAY_MS);
        assert_eq!(fault_delay(u64::MAX, Some(u64::MAX), u64::MAX), max);
        assert_eq!(fault_delay(59_999, Some(u64::MAX), 5), max);
        assert_eq!(fault_delay(10, Some(u64::MAX - 1), 5), Duration::from_millis(15));
        assert_eq!(fault_delay(10, Some(4), 7), Duration::from_millis(12));
        assert_eq!(fault_delay(10, None, 7), Duration::from_millis(10));
    }
}
