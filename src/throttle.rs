//! Rate-limited logging: a failing Redis must not turn every call into a log line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Lets one event through per period and counts the ones it held back.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    last_ms: AtomicU64,
    held_back: AtomicU64,
}

impl Throttle {
    /// `Some(held back since the last one)` if an event may be logged now.
    pub(crate) fn ready(&self, every: Duration) -> Option<u64> {
        let now = crate::policy::now_ms().max(1);
        let last = self.last_ms.load(Ordering::Relaxed);
        let every = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
        if last != 0 && now.saturating_sub(last) < every
            || self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.held_back.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_period_and_a_count_of_the_rest() {
        let t = Throttle::default();
        assert_eq!(t.ready(Duration::from_secs(60)), Some(0));
        assert_eq!(t.ready(Duration::from_secs(60)), None);
        assert_eq!(t.ready(Duration::from_secs(60)), None);
        assert_eq!(t.ready(Duration::ZERO), Some(2));
    }
}
