//! What the cache tells the outside: counters and a histogram through the `metrics` facade, so
//! any exporter works (`metrics-exporter-prometheus`, ...), and a limiter that keeps a failing
//! Redis from turning every call into a log line. Tracing spans and events live where the work
//! happens (`call/`); hits log nothing.
//!
//! - `rediscache_events_total{function, event}`: the [`Stats`](crate::Stats) counters, as they
//!   happen, per function (`event` is `success`, `missed`, `refresh`, ...);
//! - `rediscache_recompute_seconds{function}`: how long the function took when the cache ran it.
//!
//! Handles are registered on a function's first event: install the recorder before the first
//! cached call, as with any `metrics` recorder. Without the `metrics` feature both are empty
//! and the facade is not compiled; [`Stats`](crate::Stats) counts either way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::stats::Counter;
use crate::stats::pending::Function;

/// Counts one event of `function`.
#[cfg(feature = "metrics")]
pub(crate) fn event((name, stats): Function, c: Counter) {
    let handles = stats.metrics.get_or_init(|| {
        Counter::ALL.map(|c| metrics::counter!("rediscache_events_total", "function" => name, "event" => c.field()))
    });
    handles[c as usize].increment(1);
}

/// Records how long a computation the cache ran took.
#[cfg(feature = "metrics")]
pub(crate) fn recompute(name: &'static str, elapsed: Duration) {
    metrics::histogram!("rediscache_recompute_seconds", "function" => name)
        .record(elapsed.as_secs_f64());
}

/// Without the `metrics` feature, nothing to tell.
#[cfg(not(feature = "metrics"))]
pub(crate) fn event(_: Function, _: Counter) {}

/// Without the `metrics` feature, nothing to tell.
#[cfg(not(feature = "metrics"))]
pub(crate) fn recompute(_: &'static str, _: Duration) {}

/// Lets one event through per period and counts the ones it held back.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    last_ms: AtomicU64,
    held_back: AtomicU64,
}

impl Throttle {
    /// `Some(held back since the last one)` if an event may be logged now.
    pub(crate) fn ready(&self, every: Duration) -> Option<u64> {
        let now = crate::clock::now_ms().max(1);
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
