//! The client's SSE parser: arbitrary bytes split at arbitrary points never panic, and the
//! events are the same whether the body arrives whole, in the given pieces or byte by
//! byte. Payloads the server encodes come back intact (base64), or as text with one leading
//! space of each line dropped, as the reference framing makes parsers do.
#![no_main]

use base64::Engine as _;
use durastream::sse::{self, parse::Event, parse::Parser};
use libfuzzer_sys::fuzz_target;

/// Input layout: one byte `n` (taken modulo 16), `n` little-endian u16 cut points (taken
/// modulo the body's length), then the body. A seed can be `\0` followed by SSE text.
fn split_input(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let Some((&n, rest)) = data.split_first() else { return (Vec::new(), data) };
    let n = (usize::from(n) % 16).min(rest.len() / 2);
    let (cuts, body) = rest.split_at(2 * n);
    let mut cuts: Vec<usize> = cuts
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (body.len() + 1))
        .collect();
    cuts.sort_unstable();
    (cuts, body)
}

fn parse<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Event>, bool) {
    let mut parser = Parser::new();
    let mut events = Vec::new();
    for piece in pieces {
        parser.feed(piece, |e| events.push(e));
    }
    (events, parser.is_idle())
}

fuzz_target!(|data: &[u8]| {
    let (cuts, body) = split_input(data);
    let whole = parse([body]);
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        pieces.push(&body[start..cut]);
        start = cut;
    }
    pieces.push(&body[start..]);
    assert_eq!(parse(pieces), whole, "pieces differ from one chunk");
    assert_eq!(parse(body.chunks(1)), whole, "byte by byte differs from one chunk");

    // The server's encoding of the body as one payload parses back to it.
    let mut encoded = Vec::new();
    sse::encode_data(&mut encoded, body, true);
    let (events, idle) = parse([encoded.as_slice()]);
    assert!(idle);
    assert_eq!(events.len(), 1);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(events[0].data.split(|b| *b == b'\n').flatten().copied().collect::<Vec<u8>>())
        .expect("base64 data");
    assert_eq!(decoded, body);

    encoded.clear();
    sse::encode_data(&mut encoded, body, false);
    let (events, idle) = parse([encoded.as_slice()]);
    assert!(idle);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, sse::EVENT_DATA);
    // Text lines come back joined with LF: CR and CRLF line ends become LF.
    let mut normalized = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'\r' {
            normalized.push(b'\n');
            if body.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
        } else {
            normalized.push(body[i]);
        }
        i += 1;
    }
    // The reference framing puts no space after `data:`, so a parser drops one leading
    // space of each line (what the client conformance cases expect).
    let expected: Vec<u8> = normalized
        .split(|b| *b == b'\n')
        .map(|line| line.strip_prefix(b" ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join(&b'\n');
    assert_eq!(events[0].data, expected);
});
