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
        Some(c) if c >= current => c + jitter_secs.div_ceil(INTERVAL_SECS).max(1),
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
}
