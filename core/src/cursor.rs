//! `Stream-Cursor` values: 20-second intervals counted from 2024-10-09T00:00:00Z.

/// Start of interval 0, in Unix seconds.
pub const EPOCH_SECS: u64 = 1_728_432_000;
/// Length of one interval in seconds.
pub const INTERVAL_SECS: u64 = 20;

/// The cursor for a live response at `now_secs` (Unix seconds).
///
/// When the client echoed a cursor at or past the current interval, the answer moves past
/// it by `jitter_secs` (the caller picks 1..=3600 at random), so cursors never repeat.
pub fn next_cursor(now_secs: u64, echoed: Option<u64>, jitter_secs: u64) -> u64 {
    let current = now_secs.saturating_sub(EPOCH_SECS) / INTERVAL_SECS;
    match echoed {
        // Saturating: the echo is the client's number and may be as large as u64::MAX.
        Some(c) if c >= current => c.saturating_add(jitter_secs.div_ceil(INTERVAL_SECS).max(1)),
        _ => current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_past_echo() {
        let now = EPOCH_SECS + 1000 * INTERVAL_SECS + 5;
        assert_eq!(next_cursor(now, None, 0), 1000);
        assert_eq!(next_cursor(now, Some(999), 30), 1000);
        assert_eq!(next_cursor(now, Some(1000), 1), 1001);
        assert_eq!(next_cursor(now, Some(1500), 3600), 1680);
    }

    #[test]
    fn largest_echo_does_not_overflow() {
        // Found by the `headers` fuzz target: `cursor=18446744073709551615` panicked.
        assert_eq!(next_cursor(EPOCH_SECS, Some(u64::MAX), 3600), u64::MAX);
        assert_eq!(next_cursor(u64::MAX, Some(u64::MAX - 1), 1), u64::MAX);
    }
}
