//! Offset tokens.
//!
//! An offset names a byte position in a stream's stored bytes. On the wire it is
//! `0000000000000000_PPPPPPPPPPPPPPPP`: two fixed-width decimal fields, so tokens sort
//! lexicographically in stream order, are URL-safe and never equal `-1` or `now`.
//! The first field is reserved (always zero today) so the format can grow without
//! breaking ordering.

use std::fmt;
use std::str::FromStr;

/// Width of each decimal field in an offset token.
const FIELD: usize = 16;
/// Largest position a 16-digit field can hold.
pub const MAX_POSITION: u64 = 9_999_999_999_999_999;

/// A concrete position in a stream (never a sentinel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Offset(pub u64);

impl Offset {
    /// The start of every stream.
    pub const ZERO: Offset = Offset(0);

    /// The byte position this offset names.
    pub fn position(self) -> u64 {
        self.0
    }

    /// The token's text as bytes, written without the formatting machinery (the server
    /// writes one per response). Positions past [`MAX_POSITION`] keep their low 16 digits,
    /// which `Display` would print in full: callers keep positions within it.
    pub fn to_token(self) -> [u8; TOKEN_LEN] {
        let mut out = [b'0'; TOKEN_LEN];
        out[FIELD] = b'_';
        let mut p = self.0;
        for d in out[FIELD + 1..].iter_mut().rev() {
            *d = b'0' + (p % 10) as u8;
            p /= 10;
        }
        out
    }
}

/// Length of an offset token's text.
pub const TOKEN_LEN: usize = 2 * FIELD + 1;

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0w$}_{:0w$}", 0, self.0, w = FIELD)
    }
}

/// Why an offset token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid offset {0:?}: expected -1, now, or a token returned by the server")]
pub struct BadOffset(pub String);

impl FromStr for Offset {
    type Err = BadOffset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadOffset(s.chars().take(64).collect());
        let (hi, lo) = s.split_once('_').ok_or_else(bad)?;
        let digits =
            |p: &str| !p.is_empty() && p.len() <= FIELD && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(hi) || !digits(lo) {
            return Err(bad());
        }
        let hi: u64 = hi.parse().map_err(|_| bad())?;
        if hi != 0 {
            return Err(bad());
        }
        lo.parse().map(Offset).map_err(|_| bad())
    }
}

/// The `offset` query parameter: a position or one of the two sentinels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetParam {
    /// `-1` (or no parameter): the beginning of the stream.
    Start,
    /// `now`: the current tail.
    Now,
    /// A server-minted position.
    At(Offset),
}

impl OffsetParam {
    /// The wire form of this parameter.
    pub fn as_query(&self) -> String {
        match self {
            OffsetParam::Start => "-1".to_string(),
            OffsetParam::Now => "now".to_string(),
            OffsetParam::At(o) => o.to_string(),
        }
    }
}

impl FromStr for OffsetParam {
    type Err = BadOffset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "-1" => Ok(OffsetParam::Start),
            "now" => Ok(OffsetParam::Now),
            _ => s.parse().map(OffsetParam::At),
        }
    }
}

impl fmt::Display for OffsetParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_query())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_sorts() {
        let a = Offset(9).to_string();
        let b = Offset(10).to_string();
        assert_eq!(a, "0000000000000000_0000000000000009");
        assert!(a < b);
        assert_eq!(b.parse::<Offset>(), Ok(Offset(10)));
    }

    #[test]
    fn token_bytes_match_display() {
        for p in [0, 9, 10, 123_456_789, MAX_POSITION] {
            assert_eq!(Offset(p).to_token().as_slice(), Offset(p).to_string().as_bytes());
        }
    }

    #[test]
    fn sentinels_and_rejections() {
        assert_eq!("-1".parse::<OffsetParam>(), Ok(OffsetParam::Start));
        assert_eq!("now".parse::<OffsetParam>(), Ok(OffsetParam::Now));
        for bad in ["", "abc", "1", "_1", "1_", "-2", "0_-1", "1_0", "0_1,2", "00000000000000000_0"]
        {
            assert!(bad.parse::<OffsetParam>().is_err(), "{bad}");
        }
        assert_eq!("0_5".parse::<Offset>(), Ok(Offset(5)));
    }
}
