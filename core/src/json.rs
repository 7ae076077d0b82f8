//! JSON-mode framing.
//!
//! A JSON stream stores each message as its JSON text with line breaks removed, followed by
//! `,\n`. Line breaks can only be insignificant whitespace in JSON (strings escape them), so
//! removing them keeps the value intact, and a newline then marks every message boundary.
//! A read of whole messages becomes a JSON array by adding `[` and `]` and dropping the last
//! `,\n`, with no per-message work.

use serde_json::value::RawValue;

/// Bytes that end every stored JSON message.
pub const SEPARATOR: &[u8] = b",\n";

/// Why a JSON body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The body is not valid JSON.
    #[error("invalid JSON: {0}")]
    Invalid(String),
    /// An append whose body is an empty array (a no-op that signals a client bug).
    #[error("empty JSON array: an append must carry at least one message")]
    EmptyArray,
}

/// Turns a request body into stored message bytes, flattening one level of array.
///
/// `allow_empty` is true for stream creation, where `[]` means "no initial messages".
/// Returns the stored bytes and the number of messages.
///
/// Memory stays near the size of the body: the body is validated without building a value
/// tree, and the items of a top-level array are found by scanning the validated text, so an
/// array of millions of tiny items costs no per-item allocation.
pub fn frame_messages(body: &[u8], allow_empty: bool) -> Result<(Vec<u8>, usize), JsonError> {
    let raw: &RawValue =
        serde_json::from_slice(body).map_err(|e| JsonError::Invalid(e.to_string()))?;
    let text = raw.get().as_bytes();
    if text.first() != Some(&b'[') {
        let mut out = Vec::with_capacity(text.len() + SEPARATOR.len());
        push_message(&mut out, text);
        return Ok((out, 1));
    }
    // A first pass sizes the output exactly, so it is never grown (and over-allocated).
    let size: usize = ArrayItems::new(text).map(|item| item.len() + SEPARATOR.len()).sum();
    let mut out = Vec::with_capacity(size);
    let mut count = 0;
    for item in ArrayItems::new(text) {
        push_message(&mut out, item);
        count += 1;
    }
    if count == 0 && !allow_empty {
        return Err(JsonError::EmptyArray);
    }
    Ok((out, count))
}

/// The items of a top-level JSON array in text already validated, trimmed of whitespace.
struct ArrayItems<'a> {
    text: &'a [u8],
    /// Where the next item starts (just after `[` or a top-level `,`).
    at: usize,
}

impl<'a> ArrayItems<'a> {
    /// `text` must be a valid JSON array (starting with `[`).
    fn new(text: &'a [u8]) -> ArrayItems<'a> {
        ArrayItems { text, at: 1 }
    }
}

impl<'a> Iterator for ArrayItems<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        let start = self.at;
        for i in start..self.text.len() {
            let b = self.text[i];
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => depth += 1,
                b']' | b'}' if depth > 0 => depth -= 1,
                b',' | b']' if depth == 0 => {
                    self.at = i + 1;
                    let item = self.text[start..i].trim_ascii();
                    // `]` ends the array; an empty item there is the empty array `[]`.
                    if b == b']' {
                        self.at = self.text.len();
                        if item.is_empty() {
                            return None;
                        }
                    }
                    return Some(item);
                }
                _ => {}
            }
        }
        None
    }
}

fn push_message(out: &mut Vec<u8>, text: &[u8]) {
    out.extend(text.iter().filter(|b| **b != b'\n' && **b != b'\r'));
    out.extend_from_slice(SEPARATOR);
}

/// Wraps stored message bytes (whole messages) as a JSON array, with the given prefix and
/// suffix buffers, so a caller can send three slices without copying the middle.
pub fn array_parts(stored: &[u8]) -> (&'static [u8], &[u8], &'static [u8]) {
    let body = stored.strip_suffix(SEPARATOR).unwrap_or(stored);
    (b"[", body, b"]")
}

/// Wraps stored message bytes as one JSON array in a new buffer.
pub fn to_array(stored: &[u8]) -> Vec<u8> {
    let (a, b, c) = array_parts(stored);
    let mut out = Vec::with_capacity(a.len() + b.len() + c.len());
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    out.extend_from_slice(c);
    out
}

/// Length of the longest prefix of `stored` holding whole messages, at most `limit` bytes.
/// Returns at least one whole message when `stored` begins with one, even past `limit`.
pub fn whole_messages_len(stored: &[u8], limit: usize) -> usize {
    if stored.len() <= limit {
        return stored.len();
    }
    match memchr::memrchr(b'\n', &stored[..limit]) {
        Some(i) => i + 1,
        None => memchr::memchr(b'\n', stored).map_or(stored.len(), |i| i + 1),
    }
}

/// Byte length of the first `count` messages of `stored`, or `None` if it holds fewer.
pub fn messages_len(stored: &[u8], count: usize) -> Option<usize> {
    if count == 0 {
        return Some(0);
    }
    memchr::memchr_iter(b'\n', stored).nth(count - 1).map(|i| i + 1)
}

/// Splits a JSON array response body into its items (client side).
pub fn split_array(body: &[u8]) -> Result<Vec<Box<RawValue>>, JsonError> {
    serde_json::from_slice(body).map_err(|e| JsonError::Invalid(e.to_string()))
}

/// The append body that stores one JSON value as one message: the value wrapped in a
/// one-element array, since the server splits a top-level array into its items (so an
/// array value stays one message). The value is not validated here; the server does.
pub fn wrap_message(value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + 2);
    v.push(b'[');
    v.extend_from_slice(value);
    v.push(b']');
    v
}

/// True for content types read as JSON mode (`application/json`, any parameters).
pub fn is_json(content_type: &str) -> bool {
    media_type(content_type).eq_ignore_ascii_case("application/json")
}

/// The media type without parameters, trimmed.
pub fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Removes insignificant whitespace from valid JSON text, keeping key order and the exact
/// spelling of every string and number. Linear in the input; the input is not validated.
pub fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_one_level() {
        let (b, n) = frame_messages(b"[[1,2], [3,4]]", false).expect("valid");
        assert_eq!(n, 2);
        assert_eq!(b, b"[1,2],\n[3,4],\n");
        assert_eq!(to_array(&b), b"[[1,2],\n[3,4]]");
        let (b, n) = frame_messages(b"[[[1,2,3]]]", false).expect("valid");
        assert_eq!((b.as_slice(), n), (&b"[[1,2,3]],\n"[..], 1));
        let (b, n) = frame_messages(b"{\"a\":\n 1}", false).expect("valid");
        assert_eq!((b.as_slice(), n), (&b"{\"a\": 1},\n"[..], 1));
    }

    #[test]
    fn scans_nested_items_and_strings() {
        let body = br#" [ {"a":[1,{"b":"],}"}]} , "x\"]," ,[[]], 3 ] "#;
        let (b, n) = frame_messages(body, false).expect("valid");
        assert_eq!(n, 4);
        assert_eq!(
            b,
            br#"{"a":[1,{"b":"],}"}]},
"x\"],",
[[]],
3,
"#
        );
        let (b, n) = frame_messages(b"[\r\n1\r\n,\n2]", false).expect("valid");
        assert_eq!((b.as_slice(), n), (&b"1,\n2,\n"[..], 2));
        assert!(matches!(frame_messages(b"[1,]", false), Err(JsonError::Invalid(_))));
        assert!(matches!(frame_messages(b"[1] 2", false), Err(JsonError::Invalid(_))));
    }

    #[test]
    fn many_tiny_items_stay_near_the_body_size() {
        let mut body = b"[".to_vec();
        for i in 0..100_000 {
            body.extend_from_slice(if i == 0 { b"1" } else { b",1" });
        }
        body.push(b']');
        let (b, n) = frame_messages(&body, false).expect("valid");
        assert_eq!(n, 100_000);
        assert_eq!(b.len(), 300_000);
        assert_eq!(b.capacity(), b.len(), "the output is sized exactly, never grown");
    }

    #[test]
    fn empty_and_invalid() {
        assert_eq!(frame_messages(b"[]", false), Err(JsonError::EmptyArray));
        assert_eq!(frame_messages(b" [ ] ", true).expect("ok").1, 0);
        assert!(matches!(frame_messages(b"{", false), Err(JsonError::Invalid(_))));
        assert_eq!(to_array(b""), b"[]");
    }

    #[test]
    fn wrapped_message_is_one_message() {
        let body = wrap_message(b"[1,2]");
        assert_eq!(body, b"[[1,2]]");
        assert_eq!(frame_messages(&body, false).expect("valid").1, 1);
        assert_eq!(frame_messages(&wrap_message(b"{\"a\":1}"), false).expect("valid").1, 1);
    }

    #[test]
    fn boundaries() {
        let s = b"1,\n22,\n333,\n";
        assert_eq!(whole_messages_len(s, 8), 7);
        assert_eq!(whole_messages_len(s, 1), 3);
        assert_eq!(messages_len(s, 2), Some(7));
        assert_eq!(messages_len(s, 4), None);
        assert!(is_json("Application/JSON; charset=utf-8"));
    }

    #[test]
    fn minify_keeps_strings_and_order() {
        assert_eq!(
            minify("[ {\"b\": 1, \"a\" : \"x y\\\" z\"},\n 2 ]"),
            "[{\"b\":1,\"a\":\"x y\\\" z\"},2]"
        );
    }
}
