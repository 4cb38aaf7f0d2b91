//! What a cached function is, as the macro's `static` describes it: its name, its two clocks,
//! its lease, and its counts not yet added to Redis.

use std::time::Duration;

use crate::stats::FunctionStats;

/// The options of one cached function, built by the macro as a `static`.
#[derive(Debug)]
pub struct Options {
    /// The function's name in keys and logs.
    pub name: &'static str,
    /// Age after which a hit triggers a background refresh.
    pub refresh: Duration,
    /// Age after which the value is gone.
    pub expire: Duration,
    /// How long a computation keeps others from starting their own.
    pub retry: Duration,
    /// Whether a miss waits for the real value instead of returning the default.
    pub wait: bool,
    /// This function's counts not yet added to Redis.
    pub stats: FunctionStats,
}

impl Options {
    /// How the function's counts know it.
    pub(crate) fn counted(&'static self) -> crate::stats::pending::Function {
        (self.name, &self.stats)
    }

    /// A duration from milliseconds, for the macro's `static`.
    pub const fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }
}
