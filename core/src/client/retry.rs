//! Retry policy: exponential backoff with full jitter, honouring `Retry-After`.
//!
//! What is retried, exactly:
//!
//! - **Reads** (catch-up, long-poll, SSE, and the HEAD a stream handle may send to learn a
//!   content type): network failures (connect, reset, dropped body), timeouts, 408, 429 and
//!   every 5xx except 501 and 505. A reader resumes from the last offset it delivered, so a
//!   retry never repeats or skips data.
//! - **Idempotent requests** (`PUT` create, `DELETE`, close without a body, and appends that
//!   carry `Stream-Seq`): the same failures. A re-sent `Stream-Seq` append can at worst be
//!   refused with [`ErrorKind::SequenceConflict`](super::ErrorKind::SequenceConflict)
//!   (its [`attempts`](super::Error::attempts) is then above 1): it never duplicates data.
//! - **Plain appends** (no `Stream-Seq`, not through the producer), and close with a final
//!   message: only when the server cannot have applied the request — the connection could
//!   not be opened, or the server answered 429, 500 or 503 (it refused or failed the
//!   request instead of committing it). A timeout, a connection dropped after the request
//!   was sent, 502 and 504 are *not* retried, because the append may have been applied;
//!   the error is returned. Set [`RetryOptions::retry_plain_appends`] to `false` to never
//!   retry them.
//! - **The idempotent producer**: network failures, timeouts, 408, 429 and retryable 5xx,
//!   always with the same `(producer id, epoch, seq)`, which the server deduplicates.
//!
//! A `Retry-After` header (seconds or HTTP date) sets the minimum wait, capped at
//! [`RetryOptions::max_retry_after`].

use std::time::Duration;

use rand::Rng;

use super::error::{Error, Result};

/// How transient failures are retried. Validate with [`RetryOptions::validate`]; the
/// client does so when it is built.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryOptions {
    /// Retries after the first attempt (0 disables retries). Default 8.
    pub max_retries: u32,
    /// Upper bound of the first backoff. Must be positive. Default 100 ms.
    pub initial_delay: Duration,
    /// Upper bound of any backoff. At least `initial_delay`. Default 5 s.
    pub max_delay: Duration,
    /// Growth of the backoff bound per attempt. At least 1. Default 2.
    pub multiplier: f64,
    /// Longest `Retry-After` honoured. Default 60 s.
    pub max_retry_after: Duration,
    /// Retry plain appends when the server cannot have applied them (see the module
    /// docs). Default true.
    pub retry_plain_appends: bool,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            max_retries: 8,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            multiplier: 2.0,
            max_retry_after: Duration::from_secs(60),
            retry_plain_appends: true,
        }
    }
}

impl RetryOptions {
    /// No retries at all.
    pub fn none() -> Self {
        RetryOptions { max_retries: 0, ..Self::default() }
    }

    /// Checks the options; the error names the offending option (camelCase).
    pub fn validate(&self) -> Result<()> {
        if self.initial_delay.is_zero() {
            return Err(Error::invalid_argument(
                "initialDelayMs",
                "retry option initialDelayMs must be greater than 0",
            ));
        }
        if self.max_delay < self.initial_delay {
            return Err(Error::invalid_argument(
                "maxDelayMs",
                format!(
                    "retry option maxDelayMs ({} ms) must be at least initialDelayMs ({} ms)",
                    self.max_delay.as_millis(),
                    self.initial_delay.as_millis()
                ),
            ));
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err(Error::invalid_argument(
                "multiplier",
                format!("retry option multiplier must be at least 1 (got {})", self.multiplier),
            ));
        }
        Ok(())
    }

    /// Builds options from loosely typed numbers, as foreign callers pass them (absent
    /// fields keep their default), and validates them.
    pub fn from_raw(
        max_retries: Option<i64>,
        initial_delay_ms: Option<f64>,
        max_delay_ms: Option<f64>,
        multiplier: Option<f64>,
    ) -> Result<Self> {
        let mut o = RetryOptions::default();
        if let Some(n) = max_retries {
            o.max_retries = u32::try_from(n).map_err(|_| {
                Error::invalid_argument(
                    "maxRetries",
                    format!("retry option maxRetries must be between 0 and {} (got {n})", u32::MAX),
                )
            })?;
        }
        let ms = |name: &'static str, v: f64| -> Result<Duration> {
            if v.is_finite() && v > 0.0 && v < 1e12 {
                Ok(Duration::from_secs_f64(v / 1000.0))
            } else {
                Err(Error::invalid_argument(
                    name,
                    format!(
                        "retry option {name} must be a positive number of milliseconds (got {v})"
                    ),
                ))
            }
        };
        if let Some(v) = initial_delay_ms {
            o.initial_delay = ms("initialDelayMs", v)?;
        }
        if let Some(v) = max_delay_ms {
            o.max_delay = ms("maxDelayMs", v)?;
        } else if o.max_delay < o.initial_delay {
            o.max_delay = o.initial_delay;
        }
        if let Some(m) = multiplier {
            o.multiplier = m;
        }
        o.validate()?;
        Ok(o)
    }

    /// The upper bound of the backoff before retry number `retry` (0-based).
    pub fn backoff_bound(&self, retry: u32) -> Duration {
        let factor = self.multiplier.powi(i32::try_from(retry).unwrap_or(i32::MAX));
        let bound = self.initial_delay.as_secs_f64() * factor;
        if !bound.is_finite() || bound >= self.max_delay.as_secs_f64() {
            self.max_delay
        } else {
            Duration::from_secs_f64(bound)
        }
    }

    /// The wait before retry number `retry`: a uniformly random duration in
    /// `[0, backoff_bound(retry)]` ("full jitter"), raised to `retry_after` when the server
    /// asked for more (capped at `max_retry_after`).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let bound = self.backoff_bound(retry);
        let jittered = if bound.is_zero() {
            bound
        } else {
            Duration::from_secs_f64(rand::thread_rng().gen_range(0.0..=bound.as_secs_f64()))
        };
        match retry_after {
            Some(ra) => jittered.max(ra.min(self.max_retry_after)),
            None => jittered,
        }
    }
}

/// Statuses that are worth retrying for an idempotent request.
pub(crate) fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429) || (500..600).contains(&status) && !matches!(status, 501 | 505)
}

/// Statuses after which a plain append cannot have been applied.
pub(crate) fn is_refusal_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 503)
}

/// Parses `Retry-After`: delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let format = time::format_description::parse_borrowed::<2>(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
    )
    .ok()?;
    let at = time::PrimitiveDateTime::parse(v, &format).ok()?.assume_utc();
    let now = time::OffsetDateTime::now_utc();
    let diff = at - now;
    Some(if diff.is_negative() { Duration::ZERO } else { diff.unsigned_abs() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_grows_and_caps() {
        let o = RetryOptions::default();
        assert_eq!(o.backoff_bound(0), Duration::from_millis(100));
        assert_eq!(o.backoff_bound(1), Duration::from_millis(200));
        assert_eq!(o.backoff_bound(3), Duration::from_millis(800));
        assert_eq!(o.backoff_bound(10), Duration::from_secs(5));
        assert_eq!(o.backoff_bound(10_000), Duration::from_secs(5));
        for retry in 0..20 {
            let d = o.delay(retry, None);
            assert!(d <= o.backoff_bound(retry));
        }
        // Worst case of the whole default schedule stays well under 30 s.
        let total: Duration = (0..o.max_retries).map(|r| o.backoff_bound(r)).sum();
        assert!(total < Duration::from_secs(20), "{total:?}");
    }

    #[test]
    fn retry_after_is_a_floor_with_a_cap() {
        let o = RetryOptions::default();
        assert!(o.delay(0, Some(Duration::from_secs(1))) >= Duration::from_secs(1));
        assert_eq!(o.delay(0, Some(Duration::from_secs(3600))), Duration::from_secs(60));
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
        assert!(
            parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT").is_some_and(|d| d > Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn validation_names_the_option() {
        let arg = |r: Result<RetryOptions>| r.err().and_then(|e| e.argument());
        assert!(RetryOptions::from_raw(Some(3), Some(100.0), Some(5000.0), Some(2.0)).is_ok());
        assert_eq!(arg(RetryOptions::from_raw(Some(-1), None, None, None)), Some("maxRetries"));
        assert_eq!(
            arg(RetryOptions::from_raw(None, Some(0.0), None, None)),
            Some("initialDelayMs")
        );
        assert_eq!(
            arg(RetryOptions::from_raw(None, Some(-100.0), None, None)),
            Some("initialDelayMs")
        );
        assert_eq!(
            arg(RetryOptions::from_raw(None, Some(1000.0), Some(500.0), None)),
            Some("maxDelayMs")
        );
        assert_eq!(arg(RetryOptions::from_raw(None, None, None, Some(0.5))), Some("multiplier"));
        assert_eq!(
            arg(RetryOptions::from_raw(None, None, None, Some(f64::NAN))),
            Some("multiplier")
        );
        // A large initial delay alone raises the default maximum instead of failing.
        assert!(RetryOptions::from_raw(None, Some(10_000.0), None, None).is_ok());
    }

    #[test]
    fn status_classes() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_transient_status(s), "{s}");
        }
        for s in [400, 404, 409, 501, 505] {
            assert!(!is_transient_status(s), "{s}");
        }
        assert!(is_refusal_status(503) && !is_refusal_status(502) && !is_refusal_status(504));
    }
}
