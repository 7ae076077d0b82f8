//! JSON shapes of the subscription APIs: the subscription itself (6.3), a wake's stream list
//! (7.1, 7.2), the webhook body, the claim answer and the pull-wake event.

use durastream::Offset;
use serde::Serialize;
use serde_json::{json, Value};

use super::config::Kind;
use super::state::{SubState, Wake};

/// One linked stream as a wake reports it.
#[derive(Serialize)]
pub struct WakeStream<'a> {
    pub path: &'a str,
    pub link_type: &'static str,
    pub acked_offset: String,
    pub tail_offset: String,
    pub has_pending: bool,
}

fn offset(pos: u64) -> String {
    Offset(pos).to_string()
}

/// RFC 3339 with milliseconds, UTC.
pub fn timestamp(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The subscription as `GET`/`PUT` answer it. Never includes secrets.
pub fn subscription(st: &SubState, jwks_url: &str, kid: &str) -> Value {
    let streams: Vec<Value> = st
        .links
        .iter()
        .map(|(path, l)| {
            json!({ "path": path, "link_type": l.link_type(), "acked_offset": offset(l.acked) })
        })
        .collect();
    let webhook = match (&st.config.kind, &st.config.webhook_url) {
        (Kind::Webhook, Some(url)) => json!({
            "url": url,
            "signing": { "alg": "ed25519", "kid": kid, "jwks_url": jwks_url },
        }),
        _ => Value::Null,
    };
    json!({
        "id": st.id,
        "subscription_id": st.id,
        "type": st.config.kind.as_str(),
        "pattern": st.config.pattern,
        "streams": streams,
        "webhook": webhook,
        "wake_stream": st.config.wake_stream,
        "lease_ttl_ms": st.config.lease_ttl_ms,
        "created_at": timestamp(st.created_ms),
        "status": st.status(),
        "next_attempt_at": st.retry.map(|r| timestamp(r.next_attempt_ms)),
        "description": st.config.description,
    })
}

/// The linked streams with the tails of the wake snapshot.
pub fn wake_streams<'a>(st: &'a SubState, wake: &Wake) -> Vec<WakeStream<'a>> {
    st.links
        .iter()
        .map(|(path, l)| {
            let tail = wake
                .snapshot
                .get(path)
                .filter(|s| l.stream_id == Some(s.stream_id))
                .map_or(l.acked, |s| s.tail.max(l.acked));
            WakeStream {
                path,
                link_type: l.link_type(),
                acked_offset: offset(l.acked),
                tail_offset: offset(tail),
                has_pending: tail > l.acked,
            }
        })
        .collect()
}

/// The webhook request body (7.1).
pub fn webhook_body(st: &SubState, wake: &Wake, callback_url: &str, token: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        subscription_id: &'a str,
        wake_id: &'a str,
        generation: u64,
        streams: Vec<WakeStream<'a>>,
        callback_url: &'a str,
        callback_token: &'a str,
    }
    let body = Body {
        subscription_id: &st.id,
        wake_id: &wake.wake_id,
        generation: wake.generation,
        streams: wake_streams(st, wake),
        callback_url,
        callback_token: token,
    };
    serde_json::to_vec(&body).expect("a wake body always serializes")
}

/// The successful claim answer (7.2).
pub fn claim(st: &SubState, wake: &Wake, token: &str) -> Value {
    json!({
        "wake_id": wake.wake_id,
        "generation": wake.generation,
        "token": token,
        "streams": wake_streams(st, wake),
        "lease_ttl_ms": st.config.lease_ttl_ms,
    })
}

/// The wake event appended to a pull-wake subscription's wake stream (7.2). `stream` is the
/// first stream with pending work.
pub fn wake_event(st: &SubState, wake: &Wake, now_ms: i64) -> Value {
    let stream = wake_streams(st, wake).into_iter().find(|s| s.has_pending).map(|s| s.path);
    json!({
        "type": "wake",
        "subscription_id": st.id,
        "stream": stream,
        "generation": wake.generation,
        "ts": now_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_778_284_800_123), "2026-05-09T00:00:00.123Z");
    }
}
