//! Byte-exact, incremental Server-Sent Events parsing.
//!
//! [`Parser`] takes the response body in whatever pieces the network delivers and yields
//! complete [`Event`]s. It follows the field rules of the SSE specification with the
//! differences a Durable Streams client needs:
//!
//! - It works on bytes and never decodes a piece as UTF-8 on its own, so a character split
//!   across network chunks arrives intact. Payloads are handed out as bytes.
//! - Lines end only at CR, LF or CRLF (a CRLF split across two pieces counts once). U+0085,
//!   U+2028 and U+2029 are ordinary data.
//! - Exactly one space after `field:` is removed.
//! - An event is dispatched when its block named an `event` or carried a `data` field, even
//!   when the data is empty: an empty `control` event is a protocol error the caller must
//!   see, where a browser `EventSource` would drop it silently.
//!
//! Each input byte is scanned once and copied at most twice (into the line buffer when a
//! line spans pieces, then into the event's data), so parsing is linear in the input.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `event` field, or `message` when the block had none.
    pub event: String,
    /// The `data` lines joined with `\n`, as raw bytes.
    pub data: Vec<u8>,
    /// The last `id` field seen so far in the stream, if any.
    pub id: Option<String>,
    /// A `retry` field of this block (reconnection time in milliseconds), if any.
    pub retry: Option<u64>,
}

impl Event {
    /// The data as UTF-8 text, if it is valid UTF-8.
    pub fn data_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }
}

/// Incremental SSE parser: feed byte pieces with [`Parser::push`], take events with
/// [`Parser::next_event`] (or use [`Parser::feed`] to do both).
#[derive(Debug, Default)]
pub struct Parser {
    /// Bytes of a line that has not ended yet.
    line: Vec<u8>,
    /// The previous piece ended with CR: a leading LF in the next piece belongs to it.
    after_cr: bool,
    /// Fields of the event being built.
    event_type: Option<String>,
    data: Vec<u8>,
    has_data: bool,
    retry: Option<u64>,
    last_id: Option<String>,
    /// Complete events not taken yet.
    ready: std::collections::VecDeque<Event>,
}

impl Parser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a piece of the body. Complete events become available from
    /// [`Parser::next_event`].
    pub fn push(&mut self, mut bytes: &[u8]) {
        // An empty piece between a CR and its LF must not end the wait for the LF.
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
        }
        while let Some(i) = memchr::memchr2(b'\n', b'\r', bytes) {
            let end = bytes[i];
            if self.line.is_empty() {
                self.process_line_slice(&bytes[..i]);
            } else {
                self.line.extend_from_slice(&bytes[..i]);
                let line = std::mem::take(&mut self.line);
                self.process_line_slice(&line);
                self.line = line;
                self.line.clear();
            }
            bytes = &bytes[i + 1..];
            if end == b'\r' {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(bytes);
    }

    /// Takes the next complete event, if any.
    pub fn next_event(&mut self) -> Option<Event> {
        self.ready.pop_front()
    }

    /// Adds a piece and passes every event it completes to `on_event`.
    pub fn feed(&mut self, bytes: &[u8], mut on_event: impl FnMut(Event)) {
        self.push(bytes);
        while let Some(e) = self.ready.pop_front() {
            on_event(e);
        }
    }

    /// True when no partial line or partial event is buffered (the body may end here
    /// without losing an event).
    pub fn is_idle(&self) -> bool {
        self.line.is_empty() && self.event_type.is_none() && !self.has_data
    }

    fn process_line_slice(&mut self, line: &[u8]) {
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line[0] == b':' {
            return; // comment
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.event_type = Some(String::from_utf8_lossy(value).into_owned()),
            b"id" if !value.contains(&0) => {
                self.last_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
            }
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        if !self.has_data && self.event_type.is_none() {
            self.retry = None;
            return;
        }
        let event = Event {
            event: self.event_type.take().unwrap_or_else(|| "message".to_string()),
            data: std::mem::take(&mut self.data),
            id: self.last_id.clone(),
            retry: self.retry.take(),
        };
        self.has_data = false;
        self.ready.push_back(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_pieces(pieces: &[&[u8]]) -> Vec<Event> {
        let mut p = Parser::new();
        let mut out = Vec::new();
        for piece in pieces {
            p.feed(piece, |e| out.push(e));
        }
        out
    }

    fn parse_all(input: &[u8]) -> Vec<Event> {
        parse_pieces(&[input])
    }

    #[test]
    fn basic_events_and_joined_data() {
        let evs = parse_all(b"event: data\ndata: a\ndata: b\n\nevent: control\ndata: {}\n\n");
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].event, "data");
        assert_eq!(evs[0].data, b"a\nb");
        assert_eq!(evs[1].event, "control");
        assert_eq!(evs[1].data, b"{}");
    }

    #[test]
    fn every_line_ending() {
        for input in [
            &b"event: data\rdata: x\r\r"[..],
            &b"event: data\r\ndata: x\r\n\r\n"[..],
            &b"event: data\ndata: x\n\n"[..],
            &b"event: data\r\ndata: x\n\r"[..],
        ] {
            let evs = parse_all(input);
            assert_eq!(evs.len(), 1, "{input:?}");
            assert_eq!(evs[0].data, b"x");
        }
    }

    #[test]
    fn crlf_split_across_pieces_counts_once() {
        let evs = parse_pieces(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].data, b"a\nb");
        // A lone CR at the end of a piece followed by a non-LF byte.
        let evs = parse_pieces(&[b"data: a\r", b"data: b\r\r"]);
        assert_eq!(evs[0].data, b"a\nb");
    }

    #[test]
    fn empty_piece_between_cr_and_lf() {
        // Found by the `sse` fuzz target: an empty piece after a CR made the LF that
        // followed a second line end, dispatching an event too early.
        let evs = parse_pieces(&[b"data: a\r", b"", b"\ndata: b\n\n"]);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].data, b"a\nb");
    }

    #[test]
    fn utf8_split_across_pieces_and_unicode_separators_kept() {
        let text = "h\u{e9}\u{2028}\u{2029}\u{85}\u{1F600}!".as_bytes();
        let mut input = b"event: data\ndata: ".to_vec();
        input.extend_from_slice(text);
        input.extend_from_slice(b"\n\n");
        // Split at every position, including inside multi-byte characters.
        for cut in 0..input.len() {
            let evs = parse_pieces(&[&input[..cut], &input[cut..]]);
            assert_eq!(evs.len(), 1, "cut {cut}");
            assert_eq!(evs[0].data, text, "cut {cut}");
        }
        // Byte-by-byte.
        let pieces: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(parse_pieces(&pieces)[0].data, text);
    }

    #[test]
    fn strips_exactly_one_space_and_handles_bare_fields() {
        let evs = parse_all(b"data:   two\n\ndata:none\n\ndata\n\n");
        assert_eq!(evs[0].data, b"  two");
        assert_eq!(evs[1].data, b"none");
        assert_eq!(evs[2].data, b"");
    }

    #[test]
    fn comments_ids_retry_and_unknown_fields() {
        let evs = parse_all(
            b": keep-alive\n\nid: 7\nretry: 1500\nfoo: bar\ndata: x\n\nretry: x1\ndata: y\n\n",
        );
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].id.as_deref(), Some("7"));
        assert_eq!(evs[0].retry, Some(1500));
        assert_eq!(evs[0].event, "message");
        assert_eq!(evs[1].id.as_deref(), Some("7"));
        assert_eq!(evs[1].retry, None);
    }

    #[test]
    fn empty_data_event_is_dispatched() {
        let evs = parse_all(b"event: control\ndata:\n\nevent: control\n\n");
        assert_eq!(evs.len(), 2);
        assert!(evs[0].data.is_empty());
        assert!(evs[1].data.is_empty());
    }

    #[test]
    fn incomplete_event_is_held_back() {
        let mut p = Parser::new();
        p.push(b"event: data\ndata: partial");
        assert!(p.next_event().is_none());
        assert!(!p.is_idle());
        p.push(b"\n\n");
        assert_eq!(p.next_event().map(|e| e.data), Some(b"partial".to_vec()));
        assert!(p.is_idle());
    }

    #[test]
    fn round_trips_the_encoder() {
        let payload = b"line1\nline2\r\nline3\rline4";
        let mut out = Vec::new();
        super::super::encode_data(&mut out, payload, false);
        let evs = parse_all(&out);
        assert_eq!(evs[0].data, b"line1\nline2\nline3\nline4");
    }

    #[test]
    fn large_input_is_linear() {
        // 200k one-byte pieces of a single long data line: quadratic code would crawl.
        let mut input = b"data: ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 200_000));
        input.extend_from_slice(b"\n\n");
        let mut p = Parser::new();
        for b in input.chunks(1) {
            p.push(b);
        }
        assert_eq!(p.next_event().map(|e| e.data.len()), Some(200_000));
    }
}
