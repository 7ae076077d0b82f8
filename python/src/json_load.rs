//! JSON text → Python objects in one pass: the parser behind `iter_json`, `read_json` and
//! the other JSON read paths.
//!
//! `json.loads` was the bulk of a catch-up read's time. This parser builds the objects
//! straight from the response bytes (no `bytes` object, no second copy of the text), checks
//! UTF-8 once for the whole text, reuses one `str` per distinct object key within a chunk
//! (catch-up chunks repeat the same few keys), and turns integers that fit 64 bits into
//! `int`s without going through text. The results equal `json.loads`: arbitrary-size
//! integers, floats rounded the same way, later duplicate keys win, and a lone surrogate
//! escape (`"\ud800"`) gives the same lone surrogate in the `str`. Input that is not
//! strict JSON (RFC 8259) raises `ParseError` naming the byte where it went wrong.

use durastream::client::invalid_json;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString};

use crate::error::to_pyerr;

/// Deepest nesting accepted (Python's own recursion limit is about as deep).
const MAX_DEPTH: usize = 1000;
/// Object keys up to this length are cached.
const KEY_MAX: usize = 64;
/// Slots of the key cache (a power of two).
const KEY_SLOTS: usize = 256;

/// Bytes that end the fast scan of a string: `"`, `\` and control characters.
static STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Parses one JSON value (the whole of `data`) into Python objects.
pub fn loads<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let text = std::str::from_utf8(data).map_err(|e| {
        to_pyerr(py, &invalid_json(format!("not UTF-8 at byte {}", e.valid_up_to())))
    })?;
    let mut p = Loader {
        py,
        text,
        s: data,
        at: 0,
        depth: 0,
        items: Vec::new(),
        scratch: Vec::new(),
        keys: (0..KEY_SLOTS).map(|_| None).collect(),
    };
    let parsed = p.value().and_then(|v| {
        p.skip_ws();
        if p.at == p.s.len() {
            Ok(v)
        } else {
            Err(p.syntax("unexpected data after the value"))
        }
    });
    parsed.map_err(|f| match f {
        Failure::Syntax(msg) => to_pyerr(py, &invalid_json(msg)),
        Failure::Py(e) => e,
    })
}

enum Failure {
    Syntax(String),
    Py(PyErr),
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Failure::Py(e)
    }
}

type Parsed<T> = Result<T, Failure>;

/// A decoded string: borrowed from the input, or decoded (escapes) into `scratch`.
enum Text<'a> {
    Borrowed(&'a str),
    Scratch,
    /// In `scratch`, with lone surrogates encoded the way `surrogatepass` reads them.
    Surrogates,
}

struct Loader<'a, 'py> {
    py: Python<'py>,
    /// The input, checked UTF-8 once.
    text: &'a str,
    s: &'a [u8],
    at: usize,
    depth: usize,
    /// Elements of the arrays being read, innermost last (one buffer for all of them).
    items: Vec<Bound<'py, PyAny>>,
    scratch: Vec<u8>,
    /// Key cache, direct-mapped by a hash of the key's bytes.
    keys: Vec<Option<(&'a [u8], Bound<'py, PyString>)>>,
}

impl<'a, 'py> Loader<'a, 'py> {
    fn syntax(&self, what: &str) -> Failure {
        Failure::Syntax(format!("{what} at byte {}", self.at))
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.at) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Parsed<Bound<'py, PyAny>> {
        let py = self.py;
        self.skip_ws();
        match self.s.get(self.at) {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => {
                let t = self.string()?;
                Ok(self.make_str(t)?.into_any())
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", PyBool::new(py, true).to_owned().into_any()),
            Some(b'f') => self.literal("false", PyBool::new(py, false).to_owned().into_any()),
            Some(b'n') => self.literal("null", py.None().into_bound(py)),
            Some(_) => Err(self.syntax("expected a value")),
            None => Err(self.syntax("unexpected end of data")),
        }
    }

    fn literal(&mut self, word: &str, value: Bound<'py, PyAny>) -> Parsed<Bound<'py, PyAny>> {
        if self.s[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.syntax("expected a value"))
        }
    }

    fn enter(&mut self) -> Parsed<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.syntax("nested too deeply"));
        }
        self.at += 1;
        self.skip_ws();
        Ok(())
    }

    fn array(&mut self) -> Parsed<Bound<'py, PyAny>> {
        self.enter()?;
        let base = self.items.len();
        if self.s.get(self.at) == Some(&b']') {
            self.at += 1;
        } else {
            loop {
                let v = self.value()?;
                self.items.push(v);
                self.skip_ws();
                match self.s.get(self.at) {
                    Some(b',') => self.at += 1,
                    Some(b']') => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(self.syntax("expected ',' or ']'")),
                }
            }
        }
        self.depth -= 1;
        Ok(PyList::new(self.py, self.items.drain(base..))?.into_any())
    }

    fn object(&mut self) -> Parsed<Bound<'py, PyAny>> {
        self.enter()?;
        let dict = PyDict::new(self.py);
        if self.s.get(self.at) == Some(&b'}') {
            self.at += 1;
        } else {
            loop {
                if self.s.get(self.at) != Some(&b'"') {
                    return Err(self.syntax("expected a string key"));
                }
                let key = self.key()?;
                self.skip_ws();
                if self.s.get(self.at) != Some(&b':') {
                    return Err(self.syntax("expected ':'"));
                }
                self.at += 1;
                let v = self.value()?;
                dict.set_item(key, v)?;
                self.skip_ws();
                match self.s.get(self.at) {
                    Some(b',') => {
                        self.at += 1;
                        self.skip_ws();
                    }
                    Some(b'}') => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(self.syntax("expected ',' or '}'")),
                }
            }
        }
        self.depth -= 1;
        Ok(dict.into_any())
    }

    /// An object key, from the cache when this chunk had it before.
    fn key(&mut self) -> Parsed<Bound<'py, PyString>> {
        let k = match self.string()? {
            Text::Borrowed(k) if k.len() <= KEY_MAX => k,
            t => return self.make_str(t),
        };
        let py = self.py;
        let bytes = k.as_bytes();
        // FNV-1a over the key's bytes.
        let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
        let slot = &mut self.keys[(h as usize) & (KEY_SLOTS - 1)];
        if let Some((cached, s)) = slot {
            if *cached == bytes {
                return Ok(s.clone());
            }
        }
        let s = PyString::new(py, k);
        *slot = Some((bytes, s.clone()));
        Ok(s)
    }

    fn make_str(&self, t: Text<'a>) -> Parsed<Bound<'py, PyString>> {
        match t {
            Text::Borrowed(s) => Ok(PyString::new(self.py, s)),
            Text::Scratch => match std::str::from_utf8(&self.scratch) {
                Ok(s) => Ok(PyString::new(self.py, s)),
                Err(_) => Err(self.syntax("invalid UTF-8 in a string")),
            },
            Text::Surrogates => {
                let b = PyBytes::new(self.py, &self.scratch);
                Ok(PyString::from_encoded_object(&b, Some(c"utf-8"), Some(c"surrogatepass"))?)
            }
        }
    }

    /// A string whose opening quote is at `self.at`.
    fn string(&mut self) -> Parsed<Text<'a>> {
        let s = self.s;
        let start = self.at + 1;
        let mut i = start;
        while i < s.len() && !STOP[usize::from(s[i])] {
            i += 1;
        }
        if s.get(i) == Some(&b'"') {
            self.at = i + 1;
            return Ok(Text::Borrowed(&self.text[start..i]));
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&s[start..i]);
        let mut lone = false;
        loop {
            match s.get(i) {
                Some(b'"') => {
                    self.at = i + 1;
                    return Ok(if lone { Text::Surrogates } else { Text::Scratch });
                }
                Some(b'\\') => i = self.escape(i + 1, &mut lone)?,
                Some(_) if s[i] < 0x20 => {
                    self.at = i;
                    return Err(self.syntax("control character in a string"));
                }
                Some(_) => {
                    let run = i;
                    while i < s.len() && !STOP[usize::from(s[i])] {
                        i += 1;
                    }
                    self.scratch.extend_from_slice(&s[run..i]);
                }
                None => {
                    self.at = i;
                    return Err(self.syntax("unterminated string"));
                }
            }
        }
    }

    /// Decodes the escape after a backslash at `i - 1` into `scratch`; returns where the
    /// string goes on.
    fn escape(&mut self, i: usize, lone: &mut bool) -> Parsed<usize> {
        let c = match self.s.get(i) {
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'/') => b'/',
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'u') => return self.unicode_escape(i + 1, lone),
            _ => {
                self.at = i;
                return Err(self.syntax("invalid escape"));
            }
        };
        self.scratch.push(c);
        Ok(i + 1)
    }

    fn hex4(&mut self, i: usize) -> Parsed<u32> {
        let digits = self.s.get(i..i + 4).and_then(|d| std::str::from_utf8(d).ok());
        match digits.filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit())) {
            Some(d) => u32::from_str_radix(d, 16).map_err(|_| self.syntax("invalid \\u escape")),
            None => {
                self.at = i;
                Err(self.syntax("invalid \\u escape"))
            }
        }
    }

    fn unicode_escape(&mut self, i: usize, lone: &mut bool) -> Parsed<usize> {
        let hi = self.hex4(i)?;
        let mut next = i + 4;
        let code = if (0xD800..0xDC00).contains(&hi) && self.s[next..].starts_with(b"\\u") {
            let lo = self.hex4(next + 2)?;
            if (0xDC00..0xE000).contains(&lo) {
                next += 6;
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            } else {
                hi
            }
        } else {
            hi
        };
        match char::from_u32(code) {
            Some(ch) => {
                let mut buf = [0u8; 4];
                self.scratch.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            None => {
                // A lone surrogate: its three-byte form, which `surrogatepass` decodes.
                *lone = true;
                self.scratch.extend_from_slice(&[
                    0xE0 | (code >> 12) as u8,
                    0x80 | ((code >> 6) & 0x3F) as u8,
                    0x80 | (code & 0x3F) as u8,
                ]);
            }
        }
        Ok(next)
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Parsed<Bound<'py, PyAny>> {
        let start = self.at;
        let negative = self.s[self.at] == b'-';
        if negative {
            self.at += 1;
        }
        let int_start = self.at;
        let int_digits = match self.s.get(self.at) {
            Some(b'0') => {
                self.at += 1;
                1
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.syntax("invalid number")),
        };
        let mut float = false;
        if self.s.get(self.at) == Some(&b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.syntax("invalid number"));
            }
            float = true;
        }
        if let Some(b'e' | b'E') = self.s.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.s.get(self.at) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.syntax("invalid number"));
            }
            float = true;
        }
        let text = &self.text[start..self.at];
        if float {
            let f: f64 = text.parse().map_err(|_| self.syntax("invalid number"))?;
            return Ok(PyFloat::new(self.py, f).into_any());
        }
        if int_digits <= 18 {
            let n =
                self.s[int_start..self.at].iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
            let n = if negative { -n } else { n };
            return Ok(PyInt::new(self.py, n).into_any());
        }
        // Larger than 64 bits can hold for sure: Python's `int` reads any size.
        Ok(self.py.get_type::<PyInt>().call1((text,))?)
    }
}
