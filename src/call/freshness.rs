//! Is an entry fresh or stale: the one decision of a hit, pure and unit-tested.

use std::time::Duration;

/// What a read of the value key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Younger than `refresh`: serve it, nothing else to do.
    Fresh,
    /// Older than `refresh`: serve it and recompute in the background.
    Stale,
}

/// Classifies an entry written at `written_ms` (writer's clock) read at `now_ms`.
///
/// An entry stamped in the future (a writer whose clock runs ahead) counts as fresh: its TTL
/// in Redis still bounds its life, so a skewed clock can delay a refresh, never serve past
/// `expire`.
pub(crate) fn freshness(written_ms: u64, now_ms: u64, refresh: Duration) -> Freshness {
    let age = now_ms.saturating_sub(written_ms);
    if u128::from(age) >= refresh.as_millis() {
        Freshness::Stale
    } else {
        Freshness::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn young_entries_are_fresh_old_ones_stale() {
        let refresh = Duration::from_secs(10);
        assert_eq!(freshness(1_000, 1_000, refresh), Freshness::Fresh);
        assert_eq!(freshness(1_000, 10_999, refresh), Freshness::Fresh);
        assert_eq!(freshness(1_000, 11_000, refresh), Freshness::Stale);
    }

    #[test]
    fn entries_from_a_clock_ahead_are_fresh() {
        assert_eq!(
            freshness(5_000, 1_000, Duration::from_secs(1)),
            Freshness::Fresh
        );
    }
}
