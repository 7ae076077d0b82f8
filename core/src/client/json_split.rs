//! Splitting a JSON array body into pieces of whole messages, so that a binding can parse
//! a large chunk a piece at a time (with `JSON.parse` in Node: the parsed messages of one
//! piece can be dropped before the next is parsed, instead of all of them living at once).
//!
//! The split only finds top-level commas (outside strings, at depth one); it does not
//! validate the messages. Each piece must then be parsed as `[` + piece + `]` by a real
//! parser, which rejects anything the whole body would have been rejected for: the split
//! checks the outer brackets, that bracket depth never goes below zero, and that no piece
//! is empty, so valid pieces imply a valid body. On anything odd it returns `None` and the
//! caller parses the body whole (and reports the error the usual way).

use memchr::memchr2;

/// Boundaries `b` such that piece `i` is `data[b[i] + 1 .. b[i + 1]]` (the text between the
/// opening bracket or a top-level comma and the next split comma or the closing bracket),
/// each about `piece_bytes` long. `None` when the body is not a plain JSON array as far as
/// the split can tell (the caller then parses it whole), or is larger than `u32` offsets.
pub fn split_json_array(data: &[u8], piece_bytes: usize) -> Option<Vec<u32>> {
    u32::try_from(data.len()).ok()?;
    let open = data.iter().position(|b| !b.is_ascii_whitespace())?;
    let close = data.iter().rposition(|b| !b.is_ascii_whitespace())?;
    if data[open] != b'[' || data[close] != b']' || close <= open {
        return None;
    }
    let mut bounds = vec![open as u32];
    let mut depth = 0usize;
    let mut last = b'[';
    let mut i = open + 1;
    while i < close {
        let b = data[i];
        match b {
            b'"' => {
                i = string_end(data, i + 1, close)?;
            }
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.checked_sub(1)?,
            b',' if depth == 0 => {
                if last == b',' || last == b'[' {
                    return None;
                }
                if i - *bounds.last()? as usize >= piece_bytes {
                    bounds.push(i as u32);
                    last = b'[';
                    i += 1;
                    continue;
                }
            }
            _ => {}
        }
        if !b.is_ascii_whitespace() {
            last = b;
        }
        i += 1;
    }
    // An empty last piece (a split comma right before the closing bracket) would parse.
    if depth != 0 || (last == b'[' && bounds.len() > 1) {
        return None;
    }
    bounds.push(close as u32);
    Some(bounds)
}

/// The index of the quote that ends the string whose content starts at `from`.
fn string_end(data: &[u8], mut from: usize, close: usize) -> Option<usize> {
    loop {
        let at = from + memchr2(b'"', b'\\', data.get(from..close)?)?;
        if data[at] == b'"' {
            return Some(at);
        }
        from = at + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(data: &str, piece_bytes: usize) -> Option<Vec<String>> {
        let b = split_json_array(data.as_bytes(), piece_bytes)?;
        Some(b.windows(2).map(|w| data[w[0] as usize + 1..w[1] as usize].to_string()).collect())
    }

    #[test]
    fn splits_at_top_level_commas_only() {
        let data = r#" [1,{"a":[2,3]},"x,\"]",[4,5], 6 ,"\\"] "#;
        assert_eq!(
            pieces(data, 1).expect("a plain array"),
            vec!["1", r#"{"a":[2,3]}"#, r#""x,\"]""#, "[4,5]", " 6 ", r#""\\""#]
        );
        assert_eq!(pieces(data, 1000).expect("a plain array").len(), 1);
        assert_eq!(pieces("[]", 1), Some(vec![String::new()]));
    }

    #[test]
    fn joined_pieces_parse_as_the_whole() {
        let items: Vec<String> =
            (0..500).map(|i| format!(r#"{{"i":{i},"s":"a,]\"{i}"}}"#)).collect();
        let data = format!("[{}]", items.join(","));
        let whole: Vec<serde_json::Value> = serde_json::from_str(&data).expect("valid");
        for size in [1, 7, 100, 4096, 1 << 20] {
            let mut joined = Vec::new();
            for p in pieces(&data, size).expect("a plain array") {
                let v: Vec<serde_json::Value> =
                    serde_json::from_str(&format!("[{p}]")).expect("each piece is valid");
                joined.extend(v);
            }
            assert_eq!(joined, whole, "piece size {size}");
        }
    }

    #[test]
    fn odd_bodies_are_left_whole() {
        for data in [
            "", "  ", "{}", "[1,2", "1,2]", "[1]]", "[[1]", "[1,,2]", "[,1]", "[\"1]", "][",
            "[\"\\",
        ] {
            assert!(split_json_array(data.as_bytes(), 1).is_none(), "{data}");
        }
        // A trailing comma: refused here, or left in a piece that does not parse.
        for size in [1, 2, 3, 4, 100] {
            if let Some(p) = pieces("[1,22,]", size) {
                assert!(p.iter().any(|p| {
                    serde_json::from_str::<Vec<serde_json::Value>>(&format!("[{p}]")).is_err()
                }));
            }
        }
    }
}
