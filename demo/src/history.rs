//! The last minutes of the cache's counters, sampled by each worker so the page can draw hits,
//! misses and refreshes over time. The counters are shared through Redis, so every worker holds
//! the same fleet-wide history and any of them can answer `/history`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rediscache::RedisCache;
use serde::Serialize;

/// One reading of the cache's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Calls served from the cache.
    pub hits: u64,
    /// Calls that found nothing.
    pub misses: u64,
    /// Executions the cache started.
    pub refreshes: u64,
}

/// A bounded ring of samples, oldest first.
#[derive(Debug, Default)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
    capacity: usize,
}

impl History {
    /// Keeps the last `capacity` samples.
    pub fn new(capacity: usize) -> History {
        History {
            samples: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity: capacity.max(1),
        }
    }

    /// Adds a sample, dropping the oldest when full.
    pub fn push(&self, sample: Sample) {
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() == self.capacity {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// Every sample held, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.iter().copied().collect()
    }

    /// Reads the cache's totals every `every` and records them, until the runtime stops. A read
    /// that fails (Redis away) is skipped: the chart shows a gap, not a wrong value.
    pub fn spawn_sampler(
        self: &Arc<History>,
        cache: &'static RedisCache,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let history = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match cache.stats().await {
                    Ok(s) => history.push(Sample {
                        at_ms: crate::now_ms(),
                        hits: s.success,
                        misses: s.missed,
                        refreshes: s.refresh,
                    }),
                    Err(e) => tracing::debug!("demo: no stats sample: {e}"),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64) -> Sample {
        Sample {
            at_ms,
            hits: at_ms,
            misses: 0,
            refreshes: 0,
        }
    }

    #[test]
    fn keeps_the_newest_samples_oldest_first() {
        let h = History::new(3);
        for t in 1..=5 {
            h.push(sample(t));
        }
        let at: Vec<u64> = h.samples().iter().map(|s| s.at_ms).collect();
        assert_eq!(at, [3, 4, 5]);
    }
}
