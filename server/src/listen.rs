//! The accept side of the server: the connection cap, sized against the open-file limit,
//! and a back-off on `accept` errors that neither spins nor floods the log.

use std::io;
use std::time::{Duration, Instant};

/// Part of the open-file limit kept for storage files, logs and outgoing requests: a
/// quarter of it, at least this many descriptors.
pub const MIN_FD_RESERVE: u64 = 256;

/// The connection cap: the configured one, lowered so that connections leave a reserve of
/// the open-file limit (`max(limit / 4, MIN_FD_RESERVE)`) to everything else.
pub fn connection_cap(configured: usize, fd_limit: Option<u64>) -> usize {
    let configured = configured.max(1);
    let Some(limit) = fd_limit else { return configured };
    let reserve = (limit / 4).max(MIN_FD_RESERVE);
    let room = usize::try_from(limit.saturating_sub(reserve)).unwrap_or(usize::MAX);
    configured.min(room.max(1))
}

/// Paces `accept` after errors: exponential sleeps from 5 ms to 1 s, reset by a success, and
/// one warning per 10 s that counts the errors it stands for.
pub struct AcceptBackoff {
    delay: Duration,
    last_warning: Option<Instant>,
    suppressed: u64,
}

const FIRST_DELAY: Duration = Duration::from_millis(5);
const MAX_DELAY: Duration = Duration::from_secs(1);
const WARN_EVERY: Duration = Duration::from_secs(10);

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff { delay: FIRST_DELAY, last_warning: None, suppressed: 0 }
    }
}

impl AcceptBackoff {
    /// A connection was accepted.
    pub fn succeeded(&mut self) {
        self.delay = FIRST_DELAY;
    }

    /// `accept` failed with `e`: logs if due and returns how long to wait before the next.
    pub fn failed(&mut self, e: &io::Error, now: Instant) -> Duration {
        let due = !matches!(self.last_warning, Some(t) if now.duration_since(t) < WARN_EVERY);
        if due {
            let hint = if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                " (out of file descriptors: raise the open-file limit or lower --max-connections)"
            } else {
                ""
            };
            tracing::warn!(
                more_errors = self.suppressed,
                "accept failed: {e}{hint}; retrying in {} ms",
                self.delay.as_millis()
            );
            self.last_warning = Some(now);
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
        let wait = self.delay;
        self.delay = (self.delay * 2).min(MAX_DELAY);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_keeps_a_reserve_of_descriptors() {
        assert_eq!(connection_cap(10_000, None), 10_000);
        assert_eq!(connection_cap(10_000, Some(1024)), 768);
        assert_eq!(connection_cap(10_000, Some(300)), 44);
        assert_eq!(connection_cap(10_000, Some(100)), 1);
        assert_eq!(connection_cap(10_000, Some(1 << 20)), 10_000);
        assert_eq!(connection_cap(0, Some(1 << 20)), 1);
    }

    #[test]
    fn backoff_grows_to_a_cap_and_resets() {
        let mut b = AcceptBackoff::default();
        let e = io::Error::from_raw_os_error(libc::EMFILE);
        let t = Instant::now();
        let waits: Vec<u128> = (0..10).map(|_| b.failed(&e, t).as_millis()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert_eq!(b.suppressed, 9, "one warning for ten errors within 10 s");
        b.failed(&e, t + WARN_EVERY);
        assert_eq!(b.suppressed, 0, "the next warning is due after 10 s");
        b.succeeded();
        assert_eq!(b.failed(&e, t).as_millis(), 5);
    }

    #[test]
    fn reads_this_process_limit() {
        if cfg!(target_os = "linux") {
            assert!(crate::limits::nofile() > 0);
        }
    }
}
