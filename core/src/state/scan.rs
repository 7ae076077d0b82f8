//! A hand-written scanner for the event envelope, in front of `quick.rs`: it reads the
//! array, the event objects and their `headers` byte by byte, and hands every value it
//! keeps or skips (`value`, `old_value`, extras, unknown headers) to serde_json to validate.
//!
//! It accepts only the plainest form of a batch: names and the strings it reads (`type`,
//! `key`, header strings) without escapes or control characters, no repeated member names.
//! Anything else returns `None` and the caller takes the serde path in `quick.rs` (and
//! from there the full path, which names what is wrong). So the three paths accept the
//! same batches and read them the same way; `tests/state_scan.rs` checks that on random
//! and broken batches.

use memchr::memchr2;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use std::borrow::Cow;

use super::event::{Control, Operation};
use super::parse::is_rfc3339;
use super::quick::Quick;

/// Reads a JSON array of plain, well-formed events; `None` when `quick.rs` must decide.
pub(super) fn scan_batch(data: &[u8]) -> Option<Vec<Quick<'_>>> {
    let text = std::str::from_utf8(data).ok()?;
    let mut s = Scanner { text, b: data, i: 0 };
    s.ws();
    s.eat(b'[')?;
    let mut out = Vec::with_capacity(data.len() / 128 + 1);
    s.ws();
    if s.peek() == Some(b']') {
        s.i += 1;
    } else {
        loop {
            s.ws();
            out.push(s.event()?);
            s.ws();
            match s.bump()? {
                b',' => {}
                b']' => break,
                _ => return None,
            }
        }
    }
    s.ws();
    (s.i == data.len()).then_some(out)
}

struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

/// The header members the rules look at: `Some(Some(text))` for a plain string,
/// `Some(None)` for any other (valid) JSON value.
#[derive(Default)]
struct Headers<'a> {
    operation: Option<Option<&'a str>>,
    control: Option<Option<&'a str>>,
    txid: Option<Option<&'a str>>,
    timestamp: Option<Option<&'a str>>,
    offset: Option<Option<&'a str>>,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.bump()? == c).then_some(())
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// A string without escapes or control characters; its content.
    fn plain(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        // Names, types and keys are short: a plain loop beats memchr's setup here.
        let len = self.b[start..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        let end = start + len;
        if self.b[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        Some(&self.text[start..end])
    }

    /// The members of an object: calls `member(self, name)` with the scanner after the
    /// colon; each member name must be plain and appear once (`seen` tracks the names).
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Some(());
        }
        let mut names: [&str; 8] = [""; 8];
        let mut n = 0;
        loop {
            self.ws();
            let name = self.plain()?;
            if names[..n.min(8)].contains(&name) || n >= 8 {
                return None;
            }
            names[n] = name;
            n += 1;
            self.ws();
            self.eat(b':')?;
            self.ws();
            member(self, name)?;
            self.ws();
            match self.bump()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// One JSON value, validated by serde_json, as raw JSON.
    fn raw(&mut self) -> Option<&'a RawValue> {
        let start = self.i;
        self.i = self.extent()?;
        serde_json::from_str::<&RawValue>(&self.text[start..self.i]).ok()
    }

    /// One JSON value, validated by serde_json and skipped.
    fn skip(&mut self) -> Option<()> {
        let start = self.i;
        self.i = self.extent()?;
        serde_json::from_str::<IgnoredAny>(&self.text[start..self.i]).ok().map(|_| ())
    }

    /// Where the value starting here ends, going by brackets and strings only (serde_json
    /// then validates the slice).
    fn extent(&self) -> Option<usize> {
        let b = self.b;
        let mut i = self.i;
        match *b.get(i)? {
            b'"' => self.string_end(i + 1),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *b.get(i)? {
                        b'"' => {
                            i = self.string_end(i + 1)?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return Some(i + 1);
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            _ => {
                while let Some(&c) = b.get(i) {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    i += 1;
                }
                Some(i)
            }
        }
    }

    /// The index after the quote that ends the string whose content starts at `from`.
    fn string_end(&self, mut from: usize) -> Option<usize> {
        loop {
            let at = from + memchr2(b'"', b'\\', self.b.get(from..)?)?;
            if self.b[at] == b'"' {
                return Some(at + 1);
            }
            from = at + 2;
        }
    }

    /// One event object.
    fn event(&mut self) -> Option<Quick<'a>> {
        let mut entity_type = None;
        let mut key = None;
        let mut value = None;
        let mut headers = None;
        self.object(|s, name| {
            match name {
                "type" => entity_type = Some(s.plain()?),
                "key" => key = Some(s.plain()?),
                "value" => value = Some(s.raw()?),
                "headers" => headers = Some(s.headers()?),
                _ => s.skip()?,
            }
            Some(())
        })?;
        event(entity_type, key, value, headers?)
    }

    fn headers(&mut self) -> Option<Headers<'a>> {
        let mut h = Headers::default();
        self.object(|s, name| {
            let slot = match name {
                "operation" => &mut h.operation,
                "control" => &mut h.control,
                "txid" => &mut h.txid,
                "timestamp" => &mut h.timestamp,
                "offset" => &mut h.offset,
                _ => return s.skip(),
            };
            *slot = Some(if s.peek() == Some(b'"') {
                Some(s.plain()?)
            } else {
                s.skip()?;
                None
            });
            Some(())
        })?;
        Some(h)
    }
}

/// The spec's rules for one event, as `quick::event` applies them.
fn event<'a>(
    entity_type: Option<&'a str>,
    key: Option<&'a str>,
    value: Option<&'a RawValue>,
    h: Headers<'a>,
) -> Option<Quick<'a>> {
    match (h.operation, h.control) {
        (Some(op), None) => {
            let operation = Operation::parse(op?)?;
            let entity_type = entity_type.filter(|t| !t.is_empty())?;
            let key = key.filter(|k| !k.is_empty())?;
            if let Some(t) = h.txid {
                t.filter(|t| !t.is_empty())?;
            }
            if let Some(t) = h.timestamp {
                t.filter(|t| is_rfc3339(t))?;
            }
            let (entity_type, key) = (Cow::Borrowed(entity_type), Cow::Borrowed(key));
            if operation == Operation::Delete {
                Some(Quick::Delete { entity_type, key })
            } else {
                Some(Quick::Set { entity_type, key, operation, value: value? })
            }
        }
        (None, Some(c)) => {
            let control = Control::parse(c?)?;
            let offset = match h.offset {
                Some(o) => Some(Cow::Borrowed(o.filter(|o| !o.is_empty())?)),
                None => None,
            };
            Some(Quick::Control { control, offset })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::materialized::{MalformedPolicy, MaterializedState};
    use crate::state::parse::parse_batch;
    use crate::state::quick::quick_batch;

    fn describe(q: &[Quick<'_>]) -> Vec<String> {
        q.iter()
            .map(|e| match e {
                Quick::Set { entity_type, key, operation, value } => {
                    format!("set {entity_type:?} {key:?} {} {}", operation.as_str(), value.get())
                }
                Quick::Delete { entity_type, key } => format!("delete {entity_type:?} {key:?}"),
                Quick::Control { control, offset } => format!("control {control:?} {offset:?}"),
            })
            .collect()
    }

    /// xorshift64*: a fixed-seed source of random choices (no dependency).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn one_in(&mut self, n: u64) -> bool {
            self.next().is_multiple_of(n)
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[(self.next() % xs.len() as u64) as usize]
        }
    }

    fn random_event(r: &mut Rng) -> String {
        let strs = ["\"t\"", "\"row\"", "\"\"", "\"a\\\"b\"", "\"k\\u0041\"", "7", "null", "\"é\""];
        let values = [
            "1",
            "-0.5e3",
            "{\"a\":[1,{\"b\":null}]}",
            "\"x,]}\"",
            "[]",
            "tru",
            "01",
            "{\"a\":}",
            "\"\\q\"",
            "[1,]",
            "\"\\ud800\"",
        ];
        let ops = ["\"insert\"", "\"update\"", "\"upsert\"", "\"delete\"", "\"merge\"", "1"];
        let controls = ["\"reset\"", "\"snapshot-start\"", "\"snapshot-end\"", "\"stop\""];
        let mut headers = Vec::new();
        if r.one_in(6) {
            headers.push(format!("\"control\":{}", r.pick(&controls)));
            if r.one_in(2) {
                headers.push(format!("\"offset\":{}", r.pick(&strs)));
            }
        } else {
            headers.push(format!("\"operation\":{}", r.pick(&ops)));
        }
        for (name, choices) in [
            ("txid", &["\"x\"", "\"\"", "5"][..]),
            ("timestamp", &["\"2025-01-15T10:30:00Z\"", "\"now\"", "null"][..]),
            ("from", &["\"y\"", "[1,{}]", "{\"a\":"][..]),
        ] {
            if r.one_in(3) {
                headers.push(format!("\"{name}\":{}", r.pick(choices)));
            }
        }
        let mut members = Vec::new();
        if !r.one_in(8) {
            members.push(format!("\"type\":{}", r.pick(&strs)));
        }
        if !r.one_in(8) {
            members.push(format!("\"key\":{}", r.pick(&strs)));
        }
        if !r.one_in(5) {
            members.push(format!("\"value\":{}", r.pick(&values)));
        }
        if r.one_in(4) {
            members.push(format!("\"old_value\":{}", r.pick(&values)));
        }
        if !r.one_in(10) {
            members.push(format!("\"headers\":{{{}}}", headers.join(",")));
        }
        if r.one_in(10) {
            members.push(format!("\"type\":{}", r.pick(&strs)));
        }
        // Rotate the members so their order varies.
        let k = (r.next() as usize) % (members.len() + 1);
        let k = k.min(members.len());
        members.rotate_left(k);
        let sep = r.pick(&[",", " , ", ",\n"]);
        format!("{{{}}}", members.join(sep))
    }

    fn random_batch(r: &mut Rng) -> String {
        let n = (r.next() % 5) as usize;
        let events: Vec<String> = (0..n).map(|_| random_event(r)).collect();
        let mut b = format!("{}[{}]", r.pick(&["", " ", "\n"]), events.join(","));
        // Now and then, break the text: drop or insert a byte.
        if r.one_in(4) && !b.is_empty() {
            let at = (r.next() as usize) % b.len();
            if b.is_char_boundary(at) && b.is_char_boundary(at + 1) {
                if r.one_in(2) {
                    b.remove(at);
                } else {
                    let c = r.pick(&["\"", ",", "]", "}", "{", "\\", "\u{1}", "x"]);
                    b.insert_str(at, c);
                }
            }
        }
        b
    }

    #[test]
    fn the_scanner_agrees_with_the_serde_and_full_paths() {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut scanned, mut total) = (0, 0);
        for _ in 0..20_000 {
            let batch = random_batch(&mut r);
            total += 1;
            let quick = quick_batch(batch.as_bytes()).map(|q| describe(&q));
            if let Some(s) = scan_batch(batch.as_bytes()) {
                scanned += 1;
                assert_eq!(Some(describe(&s)), quick, "{batch}");
            }
            // Whatever path takes it, the state equals the full path's.
            let mut fast = MaterializedState::new();
            let a = fast.apply_batch_json(batch.as_bytes(), MalformedPolicy::Skip);
            let mut full = MaterializedState::new();
            let b = parse_batch(batch.as_bytes())
                .and_then(|events| full.apply_parsed(events, MalformedPolicy::Skip));
            match (a, b) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a.applied, b.applied, "{batch}");
                    assert_eq!(a.malformed.len(), b.malformed.len(), "{batch}");
                    assert_eq!(fast.to_json(), full.to_json(), "{batch}");
                }
                (Err(_), Err(_)) => {}
                (a, b) => panic!("{batch}: {a:?} against {b:?}"),
            }
        }
        // The generator must exercise both outcomes.
        assert!(scanned > total / 10 && scanned < total, "{scanned} of {total} scanned");
    }

    #[test]
    fn plain_batches_are_scanned() {
        let data = r#" [{"type":"t","key":"k","value":{"a":[1,"]"]},"old_value":null,
            "headers":{"operation":"update","txid":"x","timestamp":"2025-01-15T10:30:00Z",
            "offset":5,"from":"y"},"extra":true},
            {"type":"t","key":"k","headers":{"operation":"delete"}},
            {"headers":{"control":"reset","offset":"0_1"}}] "#;
        let q = scan_batch(data.as_bytes()).expect("plain");
        assert_eq!(describe(&q), describe(&quick_batch(data.as_bytes()).expect("well formed")));
        assert_eq!(q.len(), 3);
        assert!(scan_batch(b"[]").is_some_and(|q| q.is_empty()));
        for data in ["", "[", "[{}]", "[1]", r#"[{"type":"t","type":"t"}]"#, "[] x"] {
            assert!(scan_batch(data.as_bytes()).is_none(), "{data}");
        }
    }
}
