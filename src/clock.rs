//! The two clocks the crate reads, in one place.
//!
//! - The **wall clock** ([`now_ms`]) stamps entries and decides freshness: an entry carries the
//!   time it was written, so every process judges its age the same way, within their clocks'
//!   skew.
//! - The **monotonic clock** ([`monotonic_ms`]) times what only this process cares about (the
//!   circuit breaker's back-off), where a wall clock stepping back must not matter.

use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch on this machine's clock.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Milliseconds on a monotonic clock that starts at 1 (so 0 can mean "never").
pub(crate) fn monotonic_ms() -> u64 {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    u64::try_from(START.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

/// A Redis `PX` argument: whole milliseconds, at least 1 (Redis rejects 0).
pub(crate) fn px(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn px_is_never_zero() {
        assert_eq!(px(Duration::from_micros(10)), 1);
        assert_eq!(px(Duration::from_millis(1500)), 1500);
    }

    #[test]
    fn the_monotonic_clock_never_reads_zero_and_never_goes_back() {
        let a = monotonic_ms();
        let b = monotonic_ms();
        assert!(a >= 1 && b >= a);
    }
}
