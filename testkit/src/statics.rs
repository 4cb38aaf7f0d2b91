//! Statics a test shares with the cached functions it defines: the cache they use ([`Slot`]),
//! how often they ran ([`Runs`]), and where they wait for the test ([`Gate`]).

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a [`Gate`] may stay shut before the waiter fails the test.
const GATE_LIMIT: Duration = Duration::from_secs(60);

/// A static set once by the test, then read through `Deref`: a cache that needs a server the
/// test starts first.
///
/// ```
/// use rediscache_testkit::Slot;
///
/// static NAME: Slot<String> = Slot::new();
/// NAME.set("ready".to_owned());
/// assert_eq!(NAME.len(), 5);
/// ```
///
/// With `rediscache`, `static CACHE: Slot<RedisCache> = Slot::new();`, then
/// `CACHE.set(cache_on(&server))` and `#[cache(cache = CACHE, ...)]`.
#[derive(Debug)]
pub struct Slot<T>(OnceLock<T>);

impl<T> Slot<T> {
    /// An empty slot.
    pub const fn new() -> Slot<T> {
        Slot(OnceLock::new())
    }

    /// Fills the slot. Panics if it was already set: each test sets its own statics once.
    #[track_caller]
    pub fn set(&self, value: T) {
        if self.0.set(value).is_err() {
            panic!(
                "Slot<{}> set twice: each test sets its statics once",
                std::any::type_name::<T>()
            );
        }
    }

    /// The value, if set.
    pub fn get(&self) -> Option<&T> {
        self.0.get()
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Slot<T> {
        Slot::new()
    }
}

impl<T> Deref for Slot<T> {
    type Target = T;

    /// The value; panics if the test has not [`set`](Slot::set) it yet.
    #[track_caller]
    #[inline]
    fn deref(&self) -> &T {
        match self.0.get() {
            Some(value) => value,
            None => panic!(
                "Slot<{}> read before it was set: call .set(..) at the start of the test",
                std::any::type_name::<T>()
            ),
        }
    }
}

/// A counter of function executions, readable from tests.
#[derive(Debug)]
pub struct Runs(AtomicUsize);

impl Runs {
    /// A counter at zero.
    pub const fn new() -> Runs {
        Runs(AtomicUsize::new(0))
    }

    /// Counts one execution; returns its number, starting at 1.
    pub fn tick(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The executions counted so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Default for Runs {
    fn default() -> Runs {
        Runs::new()
    }
}

/// A gate a cached function's body waits at until the test opens it.
#[derive(Debug)]
pub struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    /// A shut gate.
    pub const fn new() -> Gate {
        Gate {
            open: Mutex::new(false),
            cv: Condvar::new(),
        }
    }

    /// Opens the gate for good: every waiter, now and later, goes through.
    pub fn open(&self) {
        *self.open.lock().expect("gate") = true;
        self.cv.notify_all();
    }

    /// Whether it was opened.
    pub fn is_open(&self) -> bool {
        *self.open.lock().expect("gate")
    }

    /// Blocks the thread until the gate opens (bounded, so a broken test fails, not hangs).
    pub fn wait(&self) {
        let guard = self.open.lock().expect("gate");
        let (_guard, timeout) = self
            .cv
            .wait_timeout_while(guard, GATE_LIMIT, |open| !*open)
            .expect("gate");
        assert!(!timeout.timed_out(), "gate never opened");
    }

    /// Waits without blocking the runtime (bounded as above).
    pub async fn wait_async(&self) {
        let deadline = Instant::now() + GATE_LIMIT;
        while !self.is_open() {
            assert!(Instant::now() < deadline, "gate never opened");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Default for Gate {
    fn default() -> Gate {
        Gate::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_derefs_to_what_was_set() {
        static SLOT: Slot<Vec<u8>> = Slot::new();
        assert!(SLOT.get().is_none());
        SLOT.set(vec![1, 2]);
        assert_eq!(SLOT.len(), 2, "methods of the value, through Deref");
        assert_eq!(&*SLOT, &[1, 2]);
        assert_eq!(SLOT.get(), Some(&vec![1, 2]));
    }

    #[test]
    #[should_panic(expected = "read before it was set")]
    fn reading_an_unset_slot_says_so() {
        static SLOT: Slot<u8> = Slot::new();
        let _ = *SLOT;
    }

    #[test]
    #[should_panic(expected = "set twice")]
    fn setting_a_slot_twice_says_so() {
        let slot: Slot<u8> = Slot::new();
        slot.set(1);
        slot.set(2);
    }

    #[test]
    fn runs_count_from_one() {
        let runs = Runs::new();
        assert_eq!(runs.get(), 0);
        assert_eq!((runs.tick(), runs.tick()), (1, 2));
        assert_eq!(runs.get(), 2);
    }

    #[test]
    fn a_gate_lets_waiters_through_once_opened() {
        static GATE: Gate = Gate::new();
        let waiter = std::thread::spawn(|| GATE.wait());
        assert!(!GATE.is_open());
        GATE.open();
        waiter.join().expect("the waiter went through");
        GATE.wait();
        assert!(GATE.is_open());
    }
}
