//! What the cache did, counted locally without I/O and added up in Redis in batches.

pub(crate) mod flush;
pub(crate) mod observe;
pub(crate) mod pending;

use std::collections::{BTreeMap, HashMap};
#[cfg(feature = "metrics")]
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by every process that uses the same Redis database and key prefix.
///
/// The meaning of each field follows the Python `rediscache` package:
///
/// ```no_run
/// # async fn demo() -> Result<(), rediscache::Error> {
/// let cache = rediscache::RedisCache::new()?;
/// let stats = cache.stats().await?;
/// println!("{} hits, {} misses, {} recomputes", stats.success, stats.missed, stats.refresh);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Function executions started by the cache (background refreshes and computes on a miss).
    pub refresh: u64,
    /// Times a caller with `wait = true` computed the value itself.
    pub wait: u64,
    /// Times a caller waited for a computation run by another caller or process.
    pub sleep: u64,
    /// Executions that returned `Err` or panicked; nothing was stored.
    pub failed: u64,
    /// Calls that found no usable value in Redis.
    pub missed: u64,
    /// Calls served from the cache, fresh or stale.
    pub success: u64,
    /// Times a caller got the `default` because the value was missing.
    pub default: u64,
    /// Redis operations that failed or timed out; the calls ran the function instead.
    pub errors: u64,
    /// Hits served from a local tier's memory (counted in `success` too).
    pub local_hits: u64,
    /// Entries a local tier kept after reading them from Redis.
    pub local_fills: u64,
    /// Entries a local tier did not keep because an invalidation or a flush came while their
    /// `GET` was in flight.
    pub local_discarded_fills: u64,
    /// Local copies dropped because Redis reported their key changed.
    pub local_invalidations: u64,
    /// Times a local tier was emptied: a flush of the database, a lost or doubtful tracking
    /// connection, a failover or a new slot map.
    pub local_flushes: u64,
}

/// One counter of [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    Refresh,
    Wait,
    Sleep,
    Failed,
    Missed,
    Success,
    Default,
    Errors,
    LocalHits,
    LocalFills,
    LocalDiscarded,
    LocalInvalidations,
    LocalFlushes,
}

impl Counter {
    pub(crate) const ALL: [Counter; 13] = [
        Counter::Refresh,
        Counter::Wait,
        Counter::Sleep,
        Counter::Failed,
        Counter::Missed,
        Counter::Success,
        Counter::Default,
        Counter::Errors,
        Counter::LocalHits,
        Counter::LocalFills,
        Counter::LocalDiscarded,
        Counter::LocalInvalidations,
        Counter::LocalFlushes,
    ];

    /// The field of the stats hash in Redis.
    pub(crate) fn field(self) -> &'static str {
        match self {
            Counter::Refresh => "refresh",
            Counter::Wait => "wait",
            Counter::Sleep => "sleep",
            Counter::Failed => "failed",
            Counter::Missed => "missed",
            Counter::Success => "success",
            Counter::Default => "default",
            Counter::Errors => "errors",
            Counter::LocalHits => "local_hits",
            Counter::LocalFills => "local_fills",
            Counter::LocalDiscarded => "local_discarded_fills",
            Counter::LocalInvalidations => "local_invalidations",
            Counter::LocalFlushes => "local_flushes",
        }
    }
}

impl Stats {
    fn slot(&mut self, c: Counter) -> &mut u64 {
        match c {
            Counter::Refresh => &mut self.refresh,
            Counter::Wait => &mut self.wait,
            Counter::Sleep => &mut self.sleep,
            Counter::Failed => &mut self.failed,
            Counter::Missed => &mut self.missed,
            Counter::Success => &mut self.success,
            Counter::Default => &mut self.default,
            Counter::Errors => &mut self.errors,
            Counter::LocalHits => &mut self.local_hits,
            Counter::LocalFills => &mut self.local_fills,
            Counter::LocalDiscarded => &mut self.local_discarded_fills,
            Counter::LocalInvalidations => &mut self.local_invalidations,
            Counter::LocalFlushes => &mut self.local_flushes,
        }
    }

    /// Reads the totals of the stats hash; unknown fields (from newer versions) are ignored.
    pub(crate) fn from_fields(fields: &HashMap<String, i64>) -> Stats {
        let mut stats = Stats::default();
        for c in Counter::ALL {
            if let Some(v) = fields.get(c.field()) {
                *stats.slot(c) = u64::try_from(*v).unwrap_or(0);
            }
        }
        stats
    }

    /// Reads the per-function fields (`COUNTER@FUNCTION`) of the stats hash.
    pub(crate) fn by_function(fields: &HashMap<String, i64>) -> BTreeMap<String, Stats> {
        let mut out: BTreeMap<String, Stats> = BTreeMap::new();
        for (field, v) in fields {
            let Some((counter, function)) = field.split_once('@') else {
                continue;
            };
            if let Some(c) = Counter::ALL.into_iter().find(|c| c.field() == counter) {
                *out.entry(function.to_owned()).or_default().slot(c) +=
                    u64::try_from(*v).unwrap_or(0);
            }
        }
        out
    }
}

/// A cached function's pending counts, in its `static` options: counting is one atomic add,
/// with no lookup. The cache that first counts for the function owns and flushes them (see
/// `stats/pending.rs`).
#[derive(Debug)]
pub struct FunctionStats {
    pub(crate) counters: Counters,
    /// The id of the cache that owns `counters`; 0 until one counts.
    pub(crate) owner: AtomicU64,
    /// `rediscache_events_total{function, event}` handles, registered on first use.
    #[cfg(feature = "metrics")]
    pub(crate) metrics: OnceLock<[metrics::Counter; Counter::ALL.len()]>,
}

impl FunctionStats {
    /// No counts yet.
    pub const fn new() -> FunctionStats {
        FunctionStats {
            counters: Counters::new(),
            owner: AtomicU64::new(0),
            #[cfg(feature = "metrics")]
            metrics: OnceLock::new(),
        }
    }
}

impl Default for FunctionStats {
    fn default() -> FunctionStats {
        FunctionStats::new()
    }
}

/// This process's counts not yet added to Redis.
#[derive(Debug, Default)]
pub(crate) struct Counters([AtomicU64; Counter::ALL.len()]);

impl Counters {
    pub(crate) const fn new() -> Counters {
        Counters([const { AtomicU64::new(0) }; Counter::ALL.len()])
    }

    pub(crate) fn add(&self, c: Counter) {
        self.0[c as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Takes the pending counts, leaving zeros.
    pub(crate) fn take(&self) -> Vec<(Counter, u64)> {
        Counter::ALL
            .into_iter()
            .map(|c| (c, self.0[c as usize].swap(0, Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Puts counts back after a failed flush, so none are lost.
    pub(crate) fn restore(&self, counts: &[(Counter, u64)]) {
        for (c, n) in counts {
            self.0[*c as usize].fetch_add(*n, Ordering::Relaxed);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(|a| a.load(Ordering::Relaxed) == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_function_fields_map_to_stats_by_function() {
        let fields: HashMap<String, i64> = [
            ("success".to_string(), 5),
            ("success@app::a".to_string(), 3),
            ("success@app::b".to_string(), 2),
            ("missed@app::a".to_string(), 1),
            ("nonsense@app::a".to_string(), 7),
        ]
        .into();
        let by = Stats::by_function(&fields);
        assert_eq!(by.len(), 2);
        assert_eq!((by["app::a"].success, by["app::a"].missed), (3, 1));
        assert_eq!(by["app::b"].success, 2);
        assert_eq!(
            Stats::from_fields(&fields).success,
            5,
            "totals ignore per-function fields"
        );
    }

    #[test]
    fn take_empties_and_restore_refills() {
        let c = Counters::default();
        c.add(Counter::Success);
        c.add(Counter::Success);
        c.add(Counter::Missed);
        let taken = c.take();
        assert_eq!(taken, vec![(Counter::Missed, 1), (Counter::Success, 2)]);
        assert!(c.is_empty());
        c.restore(&taken);
        assert_eq!(c.take(), taken);
    }

    #[test]
    fn fields_map_to_stats() {
        let fields: HashMap<String, i64> = [
            ("success".to_string(), 3),
            ("refresh".to_string(), 1),
            ("future".to_string(), 9),
        ]
        .into();
        let s = Stats::from_fields(&fields);
        assert_eq!((s.success, s.refresh, s.missed), (3, 1, 0));
    }
}
