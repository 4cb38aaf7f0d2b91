//! The entries held in memory and the rules that say when one may be served.
//!
//! An entry is served only while all of these hold: tracking is confirmed (the epoch is even
//! and the last heartbeat's lease has not run out), the epoch is the one the entry was filled
//! in (no flush since), its stripe's counter is the one read before its `GET` was sent (no
//! invalidation of a key of that stripe since), and it is younger than its function's
//! `expire` less the clock margin. An invalidation bumps the stripe before it removes the key;
//! a fill reads the stripe before its `GET` and checks it again on every read. So a fill whose
//! `GET` raced an invalidation is never served, whichever runs first: the "fill race" of other
//! near caches has no window here. Removing entries only frees memory.
//!
//! The map is `quick_cache`'s: sharded, bounded by weight at every insert (CLOCK-Pro decides
//! what goes), a lookup in some 30 ns.

use std::any::Any;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::clock;
use crate::codec::Stamp;

/// A decoded value kept beside the bytes, for types a hit can clone (see `call/local.rs`).
pub(crate) type Kept = Box<dyn Any + Send + Sync>;

/// Stripes of invalidation counters: a key shares its counter with about 1/STRIPES of the
/// others, and an invalidation costs those one more `GET`.
const STRIPES: usize = 1 << 14;
/// Bytes counted per entry beyond its key and value: the entry, its `Arc`, the map's slot.
const OVERHEAD: usize = 160;
/// The average entry the map sizes itself for.
const TYPICAL_ENTRY: u64 = 1024;

/// Test hooks, set through `__private::local_test_hooks`: a delay between a fill's `GET` and
/// its insert, the stripe check turned off (to show the fill-race test bites), and
/// invalidations ignored (to show expiry holds without them). All off in production.
pub(crate) mod hooks {
    use std::sync::atomic::{AtomicBool, AtomicU64};

    pub(crate) static FILL_DELAY_US: AtomicU64 = AtomicU64::new(0);
    pub(crate) static UNCHECKED: AtomicBool = AtomicBool::new(false);
    pub(crate) static IGNORE_CHANGES: AtomicBool = AtomicBool::new(false);
}

/// The tier's state, as [`LocalStatus`](crate::LocalStatus) reports it.
pub(crate) const STARTING: u8 = 0;
pub(crate) const LIVE: u8 = 1;
pub(crate) const DOWN: u8 = 2;
pub(crate) const REFUSED: u8 = 3;

/// One entry in memory: the bytes Redis holds, and the value decoded from them when its type
/// can be cloned.
pub(crate) struct Held {
    /// The entry as stored in Redis (header and value).
    pub(crate) entry: Box<[u8]>,
    /// Its header.
    pub(crate) stamp: Stamp,
    /// Its value, decoded, if its type can be cloned.
    pub(crate) kept: Option<Kept>,
    /// What it is counted as against `max_bytes`.
    weight: u64,
    epoch: u64,
    stripe: usize,
    seen: u64,
    /// Wall-clock ms after which it is not served.
    expires_at: u64,
    /// Wall-clock ms of the last refresh a stale hit asked for.
    tried: AtomicU64,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("bytes", &self.entry.len())
            .field("stamp", &self.stamp)
            .field("kept", &self.kept.is_some())
            .finish_non_exhaustive()
    }
}

impl Held {
    /// Whether a stale hit may ask for a refresh now: at most once per `every` per entry.
    pub(crate) fn may_refresh(&self, now: u64, every: Duration) -> bool {
        let last = self.tried.load(Ordering::Relaxed);
        now.saturating_sub(last) >= clock::px(every)
            && self
                .tried
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// What a fill read before its `GET`: it is served only while these still hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    epoch: u64,
    stripe: usize,
    seen: u64,
}

/// What became of a fill.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Filled {
    /// In memory.
    Kept,
    /// An invalidation or a flush came while its `GET` was in flight.
    Discarded,
    /// Too old or too big to keep.
    Skipped,
}

/// Entries weigh their key, their bytes (twice when a decoded copy is kept) and the overhead.
#[derive(Debug, Clone, Copy)]
struct ByBytes;

impl Weighter<String, Arc<Held>> for ByBytes {
    fn weight(&self, key: &String, held: &Arc<Held>) -> u64 {
        key.len() as u64 + held.weight
    }
}

/// The in-memory entries of one cache.
pub(crate) struct Tier {
    entries: Cache<String, Arc<Held>, ByBytes>,
    stripes: Box<[AtomicU64]>,
    hasher: std::collections::hash_map::RandomState,
    /// Odd while tracking is not confirmed; every flush moves it on.
    epoch: AtomicU64,
    /// Until when (ms since `base`) the last heartbeat vouches for the entries.
    alive_until: AtomicU64,
    base: Instant,
    state: AtomicU8,
    lease: Duration,
    margin: Duration,
    max_bytes: u64,
}

impl std::fmt::Debug for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tier")
            .field("entries", &self.entries.len())
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Tier {
    pub(crate) fn new(max_bytes: u64, lease: Duration, margin: Duration) -> Tier {
        Tier {
            entries: Cache::with_weighter(
                usize::try_from((max_bytes / TYPICAL_ENTRY).clamp(16, 1 << 20)).unwrap_or(16),
                max_bytes,
                ByBytes,
            ),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            // Down until the first heartbeat.
            epoch: AtomicU64::new(1),
            alive_until: AtomicU64::new(0),
            base: Instant::now(),
            state: AtomicU8::new(STARTING),
            lease,
            margin,
            max_bytes,
        }
    }

    fn stripe(&self, key: &[u8]) -> usize {
        // `STRIPES` is a power of two.
        (self.hasher.hash_one(key) as usize) & (STRIPES - 1)
    }

    fn since_base(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether tracking vouches for the entries now.
    fn live(&self) -> bool {
        self.epoch.load(Ordering::SeqCst) % 2 == 0
            && self.since_base() < self.alive_until.load(Ordering::Acquire)
    }

    /// The entry of `key`, if it may be served now.
    pub(crate) fn get(&self, key: &str, now: u64) -> Option<Arc<Held>> {
        if !self.live() {
            return None;
        }
        let held = self.entries.get(key)?;
        if now >= held.expires_at {
            // It would outlive the entry in Redis: gone for good.
            self.entries.remove(key);
            return None;
        }
        let valid = held.epoch == self.epoch.load(Ordering::SeqCst)
            && (self.stripes[held.stripe].load(Ordering::SeqCst) == held.seen
                || hooks::UNCHECKED.load(Ordering::Relaxed));
        valid.then_some(held)
    }

    /// What a fill of `key` must hold to: `None` while tracking is not confirmed.
    pub(crate) fn ticket(&self, key: &str) -> Option<Ticket> {
        if !self.live() {
            return None;
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        let stripe = self.stripe(key.as_bytes());
        let seen = self.stripes[stripe].load(Ordering::SeqCst);
        (epoch % 2 == 0).then_some(Ticket {
            epoch,
            stripe,
            seen,
        })
    }

    /// Keeps `entry` (its header `stamp`, its decoded value `kept` if any), read with
    /// `ticket`, of a function whose entries expire `expire` after they were written.
    pub(crate) fn fill(
        &self,
        ticket: Ticket,
        key: &str,
        (entry, stamp, kept): (Vec<u8>, Stamp, Option<Kept>),
        expire: Duration,
    ) -> Filled {
        let margin = clock::px(self.margin.min(expire / 4));
        let expires_at = stamp
            .written
            .saturating_add(clock::px(expire))
            .saturating_sub(margin);
        let copies = if kept.is_some() { 2 } else { 1 };
        let weight = (entry.len() * copies + OVERHEAD) as u64;
        // An entry of more than an eighth of the budget would evict too many others.
        if expires_at <= clock::now_ms() || key.len() as u64 + weight > self.max_bytes / 8 {
            return Filled::Skipped;
        }
        let delay = hooks::FILL_DELAY_US.load(Ordering::Relaxed);
        if delay > 0 {
            std::thread::sleep(Duration::from_micros(delay));
        }
        let held = Arc::new(Held {
            entry: entry.into_boxed_slice(),
            stamp,
            kept,
            weight,
            epoch: ticket.epoch,
            stripe: ticket.stripe,
            seen: ticket.seen,
            expires_at,
            tried: AtomicU64::new(0),
        });
        self.entries.insert(key.to_owned(), held);
        // Served only while these hold anyway (see `get`); checked here to count the discard
        // and free the memory.
        if self.epoch.load(Ordering::SeqCst) != ticket.epoch
            || (self.stripes[ticket.stripe].load(Ordering::SeqCst) != ticket.seen
                && !hooks::UNCHECKED.load(Ordering::Relaxed))
        {
            self.entries.remove(key);
            return Filled::Discarded;
        }
        Filled::Kept
    }

    /// `key` changed: its entry (and its stripe's fills in flight) will not be served.
    /// Returns whether an entry was held.
    pub(crate) fn invalidate(&self, key: &[u8]) -> bool {
        self.stripes[self.stripe(key)].fetch_add(1, Ordering::SeqCst);
        match std::str::from_utf8(key) {
            Ok(key) => self.entries.remove(key).is_some(),
            Err(_) => false,
        }
    }

    /// Nothing held is served again; with `down`, nothing is served until the next
    /// [`confirm`](Self::confirm). Returns whether the tier was up.
    pub(crate) fn flush(&self, down: bool) -> bool {
        let epoch = self.epoch.load(Ordering::SeqCst);
        let step = match (epoch % 2 == 0, down) {
            (true, true) => 1,
            (true, false) => 2,
            // Down already: every entry is of an older epoch.
            (false, _) => 0,
        };
        self.epoch.fetch_add(step, Ordering::SeqCst);
        if down {
            self.state.store(DOWN, Ordering::Relaxed);
        }
        self.entries.clear();
        epoch % 2 == 0
    }

    /// Tracking is confirmed up to `at`: entries may be served until `at + lease`. The first
    /// confirmation after a flush starts a new epoch. Returns whether the tier just went live.
    pub(crate) fn confirm(&self, at: Instant) -> bool {
        let until = u64::try_from(at.saturating_duration_since(self.base).as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(clock::px(self.lease));
        self.alive_until.fetch_max(until, Ordering::AcqRel);
        let epoch = self.epoch.load(Ordering::SeqCst);
        if epoch % 2 == 1 {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            self.state.store(LIVE, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// The server refuses tracking: nothing is ever served from memory.
    pub(crate) fn refuse(&self) {
        self.flush(true);
        self.state.store(REFUSED, Ordering::Relaxed);
    }

    /// The state, the entries and the bytes they are counted as.
    pub(crate) fn status(&self) -> (u8, u64, u64) {
        let state = match self.state.load(Ordering::Relaxed) {
            LIVE if !self.live() => DOWN,
            s => s,
        };
        (state, self.entries.len() as u64, self.entries.weight())
    }
}
