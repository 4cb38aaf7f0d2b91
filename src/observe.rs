//! What the cache tells the outside: counters and a histogram through the `metrics` facade, so
//! any exporter works (`metrics-exporter-prometheus`, ...). Tracing spans and events live where
//! the work happens (`call.rs`); hits log nothing.
//!
//! - `rediscache_events_total{function, event}`: the [`Stats`](crate::Stats) counters, as they
//!   happen, per function (`event` is `success`, `missed`, `refresh`, ...);
//! - `rediscache_recompute_seconds{function}`: how long the function took when the cache ran it.
//!
//! Handles are registered on a function's first event: install the recorder before the first
//! cached call, as with any `metrics` recorder.

use std::time::Duration;

use crate::__private::Options;
use crate::stats::Counter;

/// Counts one event of `opts`'s function.
pub(crate) fn event(opts: &'static Options, c: Counter) {
    let handles = opts.stats.metrics.get_or_init(|| {
        Counter::ALL.map(|c| metrics::counter!("rediscache_events_total", "function" => opts.name, "event" => c.field()))
    });
    handles[c as usize].increment(1);
}

/// Records how long a computation the cache ran took.
pub(crate) fn recompute(opts: &'static Options, elapsed: Duration) {
    metrics::histogram!("rediscache_recompute_seconds", "function" => opts.name)
        .record(elapsed.as_secs_f64());
}
