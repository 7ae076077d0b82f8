//! Strict parsing of protocol header values.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Largest producer epoch or sequence number (2^53 - 1, for JavaScript clients).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Parses a non-negative decimal integer with no sign, leading zero, point or exponent.
pub fn strict_uint(s: &str) -> Option<u64> {
    let ok = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'))
        && s.len() <= 20;
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

/// Parses a producer epoch or sequence: a strict integer no larger than 2^53 - 1.
pub fn producer_number(s: &str) -> Option<u64> {
    strict_uint(s).filter(|n| *n <= MAX_SAFE_INTEGER)
}

/// Parses an RFC 3339 timestamp into Unix milliseconds.
pub fn rfc3339_millis(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Formats Unix milliseconds as an RFC 3339 timestamp (UTC).
pub fn format_rfc3339(millis: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers() {
        assert_eq!(strict_uint("3600"), Some(3600));
        assert_eq!(strict_uint("0"), Some(0));
        for bad in ["", "+3600", "03600", "3600.0", "3.6e3", "-1", " 1", "abc"] {
            assert_eq!(strict_uint(bad), None, "{bad}");
        }
        assert_eq!(producer_number("9007199254740991"), Some(MAX_SAFE_INTEGER));
        assert_eq!(producer_number("9007199254740992"), None);
    }

    #[test]
    fn timestamps() {
        let ms = rfc3339_millis("2030-01-01T00:00:00Z").expect("valid");
        assert_eq!(ms, 1_893_456_000_000);
        assert_eq!(rfc3339_millis("2030-01-01T01:00:00+01:00"), Some(ms));
        assert_eq!(rfc3339_millis("tomorrow"), None);
        assert_eq!(format_rfc3339(ms), "2030-01-01T00:00:00Z");
    }
}
