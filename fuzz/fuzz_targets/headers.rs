//! Request headers and read parameters: arbitrary values never panic, and whatever is
//! accepted obeys the protocol's limits (strict integers, 2^53 - 1 producer numbers, RFC
//! 3339 instants that format and parse back, cursors that move forward).
//!
//! Input: a request head as text, so seeds are easy to write:
//! `PUT /v1/stream/a?offset=-1&live=sse&cursor=7\nstream-ttl: 60\nproducer-id: p\n`.
//! The line `x-now: N` sets the clock of the cursor check; `x-jitter: N` its jitter.
#![no_main]

use bytes::Bytes;
use durastream::{cursor, headers as h, values, Offset};
use durastream_server::http::parse;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

const PREFIX: &str = "/v1/stream";

/// Checks the value parsers on one header value.
fn check_value(text: &str) {
    if let Some(n) = values::strict_uint(text) {
        assert_eq!(n.to_string(), text, "strict integers have one spelling");
    }
    if let Some(n) = values::producer_number(text) {
        assert!(n <= values::MAX_SAFE_INTEGER);
    }
    if let Some(ms) = values::rfc3339_millis(text) {
        let again = values::format_rfc3339(ms);
        assert_eq!(values::rfc3339_millis(&again), Some(ms), "{text:?} -> {again:?}");
    }
}

/// The request line's target and the header lines.
fn request(data: &[u8]) -> (String, HeaderMap) {
    let mut lines = data.split(|b| *b == b'\n');
    let first = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let target = first.split_once(' ').map_or(&*first, |(_, t)| t).to_string();
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        let value = line[colon + 1..].strip_prefix(b" ").unwrap_or(&line[colon + 1..]);
        let value = value.strip_suffix(b"\r").unwrap_or(value);
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(value))
        {
            if let Ok(text) = value.to_str() {
                check_value(text);
            }
            headers.append(name, value);
        }
    }
    (target, headers)
}

fuzz_target!(|data: &[u8]| {
    let (target, headers) = request(data);
    let (path, query) = target.split_once('?').map_or((&*target, None), |(p, q)| (p, Some(q)));

    if let Ok(req) = parse::parse_create(PREFIX, path, &headers, Bytes::new()) {
        assert!(req.ttl_secs.is_none() || req.expires_at_ms.is_none());
        if let Some(fork) = &req.fork {
            assert!(fork.source_path.starts_with(PREFIX), "{fork:?}");
            if let Some(o) = fork.offset {
                assert_eq!(Offset(o).to_string().parse::<Offset>(), Ok(Offset(o)));
            }
        }
    }
    if let Ok(Some(p)) = parse::parse_producer(&headers) {
        assert!(!p.id.is_empty());
        assert!(p.epoch <= values::MAX_SAFE_INTEGER && p.seq <= values::MAX_SAFE_INTEGER);
    }
    if let Ok(decoded) = parse::validate_path(path) {
        assert!(!decoded.contains('\0'));
        assert!(!decoded.split('/').any(|s| s == "." || s == ".."));
    }

    let mut echoed = None;
    if let Ok(q) = parse::parse_query(query) {
        let had_offset =
            query.unwrap_or_default().split('&').any(|p| p.split('=').next() == Some(h::Q_OFFSET));
        assert!(q.live == parse::Live::None || had_offset);
        let cursor = parse::live_cursor(q.cursor.as_deref());
        assert!(cursor.parse::<u64>().is_ok(), "{cursor:?}");
        echoed = q.cursor.and_then(|c| c.parse::<u64>().ok());
    }

    // Cursors never go back, and move past an echo at or beyond the current interval.
    let number = |name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
    };
    let now = number("x-now").unwrap_or(cursor::EPOCH_SECS + 1_000_000);
    let jitter = number("x-jitter").unwrap_or(0) % 3600 + 1;
    let next = cursor::next_cursor(now, echoed, jitter);
    let current = now.saturating_sub(cursor::EPOCH_SECS) / cursor::INTERVAL_SECS;
    assert!(next >= current);
    if let Some(echo) = echoed.filter(|e| *e >= current && *e < u64::MAX) {
        assert!(next > echo, "cursor {next} does not move past the echo {echo}");
    }
});
