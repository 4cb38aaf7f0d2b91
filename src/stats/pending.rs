//! Counts a cache has taken but not yet added to Redis, per cached function.
//!
//! A function's counters live in its `static` options, so counting a hit is one atomic add with
//! no lookup. They belong to the first cache that counts for the function, which flushes them.
//! A function whose `cache = ..` expression picks another cache on some calls (a cache per
//! tenant or region) counts those calls in that cache's own table: a lock and a short scan, off
//! the common path, so every cache reports exactly its own calls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::stats::{Counter, Counters, FunctionStats};

/// Caches are told apart by an id that is never reused (an address could be, after a drop).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One cache's pending counts.
#[derive(Debug)]
pub(crate) struct Pending {
    id: u64,
    /// Functions whose `static` counters this cache owns.
    owned: Mutex<Vec<Function>>,
    /// Functions owned by another cache, counted here when called through this one.
    foreign: Mutex<Vec<(Function, Arc<Counters>)>>,
}

/// A cached function as its counts know it: its name and its `static` counters.
pub(crate) type Function = (&'static str, &'static FunctionStats);

/// Counts taken for a flush, with where to put them back if it fails.
pub(crate) struct Taken {
    pub(crate) function: &'static str,
    pub(crate) counts: Vec<(Counter, u64)>,
    from: Source,
}

enum Source {
    Owned(&'static Counters),
    Foreign(Arc<Counters>),
}

impl Default for Pending {
    fn default() -> Pending {
        Pending {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            owned: Mutex::default(),
            foreign: Mutex::default(),
        }
    }
}

impl Pending {
    /// Counts `c` for `function`.
    pub(crate) fn count(&self, function: Function, c: Counter) {
        let stats = function.1;
        let owner = &stats.owner;
        // A load first: the common case reads a shared cache line and writes only the counter.
        let current = owner.load(Ordering::Relaxed);
        if current == self.id {
            stats.counters.add(c);
        } else if current == 0
            && owner
                .compare_exchange(0, self.id, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            lock(&self.owned).push(function);
            stats.counters.add(c);
        } else {
            self.count_foreign(function, c);
        }
    }

    #[cold]
    fn count_foreign(&self, function: Function, c: Counter) {
        let mut foreign = lock(&self.foreign);
        match foreign.iter().find(|(f, _)| std::ptr::eq(f.1, function.1)) {
            Some((_, counters)) => counters.add(c),
            None => {
                let counters = Arc::new(Counters::new());
                counters.add(c);
                foreign.push((function, counters));
            }
        }
    }

    /// Whether anything waits to be flushed.
    pub(crate) fn any(&self) -> bool {
        lock(&self.owned)
            .iter()
            .any(|(_, stats)| !stats.counters.is_empty())
            || lock(&self.foreign).iter().any(|(_, c)| !c.is_empty())
    }

    /// Takes every pending count, leaving zeros.
    pub(crate) fn take(&self) -> Vec<Taken> {
        let owned: Vec<Function> = lock(&self.owned).clone();
        let foreign: Vec<(Function, Arc<Counters>)> = lock(&self.foreign).clone();
        let owned = owned
            .into_iter()
            .map(|(name, stats)| (name, Source::Owned(&stats.counters)));
        let foreign = foreign
            .into_iter()
            .map(|((name, _), c)| (name, Source::Foreign(c)));
        owned
            .chain(foreign)
            .map(|(function, from)| Taken {
                function,
                counts: from.counters().take(),
                from,
            })
            .filter(|t| !t.counts.is_empty())
            .collect()
    }

    /// Puts counts back after a failed flush, so none are lost.
    pub(crate) fn restore(taken: &[Taken]) {
        for t in taken {
            t.from.counters().restore(&t.counts);
        }
    }
}

impl Source {
    fn counters(&self) -> &Counters {
        match self {
            Source::Owned(c) => c,
            Source::Foreign(c) => c,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(name: &'static str) -> Function {
        (name, Box::leak(Box::new(FunctionStats::new())))
    }

    fn counts(taken: &[Taken]) -> Vec<(&'static str, Vec<(Counter, u64)>)> {
        taken
            .iter()
            .map(|t| (t.function, t.counts.clone()))
            .collect()
    }

    #[test]
    fn each_cache_takes_only_its_own_counts() {
        let (f, g) = (function("f"), function("g"));
        let (a, b) = (Pending::default(), Pending::default());
        a.count(f, Counter::Missed);
        a.count(f, Counter::Success);
        b.count(f, Counter::Success); // f belongs to a: b counts it in its own table
        b.count(g, Counter::Missed); // g belongs to b
        assert!(a.any() && b.any());
        assert_eq!(
            counts(&a.take()),
            [("f", vec![(Counter::Missed, 1), (Counter::Success, 1)])]
        );
        assert_eq!(
            counts(&b.take()),
            [
                ("g", vec![(Counter::Missed, 1)]),
                ("f", vec![(Counter::Success, 1)])
            ]
        );
        assert!(!a.any() && !b.any(), "taken counts leave zeros");
    }

    #[test]
    fn restore_puts_back_what_a_failed_flush_took() {
        let f = function("f");
        let (a, b) = (Pending::default(), Pending::default());
        a.count(f, Counter::Refresh);
        b.count(f, Counter::Failed);
        let (ta, tb) = (a.take(), b.take());
        Pending::restore(&ta);
        Pending::restore(&tb);
        assert_eq!(counts(&a.take()), counts(&ta));
        assert_eq!(counts(&b.take()), counts(&tb));
    }

    /// A cache created after the owner was dropped is told apart from it, never mistaken for it.
    #[test]
    fn a_new_cache_never_inherits_a_dropped_caches_functions() {
        let f = function("f");
        let a = Pending::default();
        a.count(f, Counter::Success);
        drop(a);
        let b = Pending::default();
        b.count(f, Counter::Success);
        assert_eq!(counts(&b.take()), [("f", vec![(Counter::Success, 1)])]);
    }
}
