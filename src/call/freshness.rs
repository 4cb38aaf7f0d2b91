//! Is an entry fresh or stale: the one decision of a hit, pure and unit-tested.

use std::time::Duration;

/// Whether a call would serve an entry as it is, or serve it and refresh it once.
///
/// ```no_run
/// use rediscache::{Freshness, Function, RedisCache};
///
/// static RATE: Function = Function::new("app::rate");
/// # async fn demo(cache: &RedisCache) -> Result<(), rediscache::Error> {
/// if let Some(hit) = RATE.get::<f64>(cache, ("EUR",)).await? {
///     println!("{} ({:?} old, {:?})", hit.value, hit.age, hit.freshness);
///     assert!(matches!(hit.freshness, Freshness::Fresh | Freshness::Stale));
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Freshness {
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
