//! Server-Sent Events framing.
//!
//! Encoding (server side) lives here; [`parse`] holds the byte-exact parser clients use.

use base64::Engine as _;

pub mod parse;

/// Event name of a data event.
pub const EVENT_DATA: &str = "data";
/// Event name of a control event.
pub const EVENT_CONTROL: &str = "control";

/// The JSON payload of a `control` event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Control {
    /// Offset to resume from.
    pub next_offset: String,
    /// Cursor to echo; omitted once the stream is closed.
    pub cursor: Option<String>,
    /// The reader has every byte that exists now.
    pub up_to_date: bool,
    /// The stream is closed and every byte has been sent.
    pub closed: bool,
}

impl Control {
    /// The control event's JSON text.
    pub fn to_json(&self) -> String {
        let quote = |v: &str| serde_json::Value::from(v).to_string();
        let mut s = format!("{{\"streamNextOffset\":{}", quote(&self.next_offset));
        if let Some(c) = &self.cursor {
            s.push_str(",\"streamCursor\":");
            s.push_str(&quote(c));
        }
        if self.up_to_date {
            s.push_str(",\"upToDate\":true");
        }
        if self.closed {
            s.push_str(",\"streamClosed\":true");
        }
        s.push('}');
        s
    }

    /// Appends this control event to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"event: control\ndata:");
        out.extend_from_slice(self.to_json().as_bytes());
        out.extend_from_slice(b"\n\n");
    }
}

/// Appends a `data` event carrying `payload` to `out`.
///
/// Text payloads are split into `data:` lines at CR, LF and CRLF; binary payloads are
/// base64-encoded (standard alphabet) in lines of at most 4096 characters.
pub fn encode_data(out: &mut Vec<u8>, payload: &[u8], base64: bool) {
    out.extend_from_slice(b"event: data\n");
    if base64 {
        let text = base64::engine::general_purpose::STANDARD.encode(payload);
        if text.is_empty() {
            out.extend_from_slice(b"data:\n");
        }
        for line in text.as_bytes().chunks(4096) {
            push_line(out, line);
        }
    } else {
        let mut rest = payload;
        loop {
            match memchr::memchr2(b'\n', b'\r', rest) {
                Some(i) => {
                    push_line(out, &rest[..i]);
                    let skip =
                        if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                    rest = &rest[i + skip..];
                }
                None => {
                    push_line(out, rest);
                    break;
                }
            }
        }
    }
    out.push(b'\n');
}

/// Writes one `data:` line. Like the reference server, no space follows the colon, so a
/// parser that drops one leading space (as SSE parsers do) drops one of the line's own:
/// the client conformance cases expect exactly that (`sse-strips-single-leading-space`).
fn push_line(out: &mut Vec<u8>, line: &[u8]) {
    out.extend_from_slice(b"data:");
    out.extend_from_slice(line);
    out.push(b'\n');
}

/// True when SSE data for this content type must be base64 (neither `text/*` nor JSON).
pub fn needs_base64(content_type: &str) -> bool {
    let media = crate::json::media_type(content_type).to_ascii_lowercase();
    !(media.starts_with("text/") || media == "application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lines_and_control() {
        let mut out = Vec::new();
        encode_data(&mut out, b"a\nb\r\n c", false);
        assert_eq!(out, b"event: data\ndata:a\ndata:b\ndata: c\n\n");
        out.clear();
        Control {
            next_offset: "0_1".into(),
            cursor: Some("7".into()),
            up_to_date: true,
            closed: false,
        }
        .encode(&mut out);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "event: control\ndata:{\"streamNextOffset\":\"0_1\",\"streamCursor\":\"7\",\"upToDate\":true}\n\n"
        );
    }

    #[test]
    fn lines_starting_with_a_space_lose_one_as_the_reference_framing_does() {
        let payload = b"  two\n three\nfour";
        let mut out = Vec::new();
        encode_data(&mut out, payload, false);
        assert_eq!(out, b"event: data\ndata:  two\ndata: three\ndata:four\n\n");
        let mut parser = parse::Parser::new();
        parser.push(&out);
        assert_eq!(parser.next_event().map(|e| e.data), Some(b" two\nthree\nfour".to_vec()));
    }

    #[test]
    fn base64_payloads() {
        let mut out = Vec::new();
        encode_data(&mut out, &[1, 2, 3], true);
        assert_eq!(out, b"event: data\ndata:AQID\n\n");
        assert!(needs_base64("application/octet-stream"));
        assert!(!needs_base64("text/plain; charset=utf-8"));
        assert!(!needs_base64("application/json"));
    }
}
