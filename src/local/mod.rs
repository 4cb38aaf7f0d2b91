//! The local tier: hits served from this process's memory, kept true by Redis's own
//! invalidations (server-assisted client tracking, `backend/tracking.rs`).
//!
//! - [`tier`]: the entries and the rules that say when one may be served;
//! - [`listen`]: what the tracking connections tell, applied to the tier.
//!
//! Without the `local` feature, [`Tier`] is uninhabited: a cache never has one, and the call
//! path's checks for it compile to nothing.

#[cfg(feature = "local")]
pub(crate) mod listen;
#[cfg(not(feature = "local"))]
mod off;
#[cfg(feature = "local")]
pub(crate) mod tier;

#[cfg(feature = "local")]
use std::sync::Arc;
#[cfg(feature = "local")]
use std::time::Duration;

#[cfg(not(feature = "local"))]
pub(crate) use off::{Filled, Kept, Ticket, Tier};
#[cfg(feature = "local")]
pub(crate) use tier::{Filled, Kept, Ticket, Tier};

#[cfg(feature = "local")]
use crate::Error;
#[cfg(feature = "local")]
use crate::backend::Backend;
#[cfg(feature = "local")]
use crate::stats::Counter;

/// The local tier of a [`RedisCache`](crate::RedisCache): hits served from this process's
/// memory in well under a microsecond, for as long as Redis holds the same value.
///
/// Redis reports every change to an entry under the cache's prefix (client tracking in
/// broadcast mode, on a connection of its own), whoever makes it: this crate in any process,
/// `redis-cli`, eviction, expiry, `FLUSHALL`. A copy is dropped when its report arrives; a
/// connection that drops, stops answering its heartbeat or sees a failover empties the tier,
/// and nothing is served from memory until tracking is confirmed again. See the README's
/// "Local tier" section for the promise, the numbers and when not to use it.
///
/// ```
/// use rediscache::{Local, RedisCache};
///
/// let cache = RedisCache::builder()
///     .local(Local::new().max_bytes(64 << 20))
///     .build()?;
/// # Ok::<(), rediscache::Error>(())
/// ```
#[cfg(feature = "local")]
#[cfg_attr(docsrs, doc(cfg(feature = "local")))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    pub(crate) max_bytes: u64,
    pub(crate) lease: Duration,
    pub(crate) clock_margin: Duration,
}

#[cfg(feature = "local")]
impl Local {
    /// `max_bytes` unless set: 64 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;
    /// `lease` unless set: 1.5 s.
    pub const DEFAULT_LEASE: Duration = Duration::from_millis(1500);
    /// `clock_margin` unless set: 500 ms.
    pub const DEFAULT_CLOCK_MARGIN: Duration = Duration::from_millis(500);

    /// The defaults: 64 MiB, a 1.5 s lease, a 500 ms clock margin.
    ///
    /// ```
    /// use rediscache::Local;
    ///
    /// assert_eq!(Local::new(), Local::default());
    /// ```
    pub fn new() -> Local {
        Local {
            max_bytes: Local::DEFAULT_MAX_BYTES,
            lease: Local::DEFAULT_LEASE,
            clock_margin: Local::DEFAULT_CLOCK_MARGIN,
        }
    }

    /// How much memory the entries may take, shared by every function of the cache: each is
    /// counted as its key, its bytes in Redis (twice when a decoded copy is kept beside them) and
    /// about 160 bytes more; an entry over an eighth of the budget is not kept. The least
    /// recently useful go first.
    ///
    /// ```
    /// use rediscache::Local;
    ///
    /// let local = Local::new().max_bytes(256 << 20);
    /// ```
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: u64) -> Local {
        self.max_bytes = max_bytes;
        self
    }

    /// How long after a heartbeat was sent (one every 500 ms) the tier keeps serving without
    /// another answer: the most a connection that stopped delivering, without closing, can
    /// serve from memory. At least 1 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rediscache::Local;
    ///
    /// let local = Local::new().lease(Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Local {
        self.lease = lease;
        self
    }

    /// How much sooner than Redis a copy expires from memory: the clock difference tolerated
    /// between the process that wrote an entry and this one (at most a quarter of `expire`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use rediscache::Local;
    ///
    /// let local = Local::new().clock_margin(Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn clock_margin(mut self, margin: Duration) -> Local {
        self.clock_margin = margin;
        self
    }

    /// The checks of `build()`.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.max_bytes == 0 {
            return Err(Error::config("local.max_bytes", "must be more than 0"));
        }
        if self.lease < Duration::from_secs(1) {
            return Err(Error::config(
                "local.lease",
                "must be at least 1s (two heartbeats)",
            ));
        }
        Ok(())
    }

    pub(crate) fn tier(&self) -> Tier {
        Tier::new(self.max_bytes, self.lease, self.clock_margin)
    }
}

#[cfg(feature = "local")]
impl Default for Local {
    fn default() -> Local {
        Local::new()
    }
}

/// Where a cache's local tier stands: [`RedisCache::local_status`](crate::RedisCache::local_status).
#[cfg(feature = "local")]
#[cfg_attr(docsrs, doc(cfg(feature = "local")))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocalState {
    /// Tracking is not confirmed yet (before the cache's first call, or just after it).
    Starting,
    /// Hits are served from memory.
    Live,
    /// Tracking was lost or is not confirmed: every hit reads Redis until it is again.
    Down,
    /// The server refuses client tracking: the tier stays off (logged once).
    Refused,
}

/// A snapshot of a cache's local tier.
///
/// ```no_run
/// # fn demo(cache: &rediscache::RedisCache) {
/// if let Some(status) = cache.local_status() {
///     println!("{:?}: {} entries in {} bytes", status.state, status.entries, status.bytes);
/// }
/// # }
/// ```
#[cfg(feature = "local")]
#[cfg_attr(docsrs, doc(cfg(feature = "local")))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalStatus {
    /// Whether hits are served from memory.
    pub state: LocalState,
    /// Entries held.
    pub entries: u64,
    /// What they are counted as, at most [`Local::max_bytes`].
    pub bytes: u64,
}

#[cfg(feature = "local")]
impl Tier {
    /// What [`RedisCache::local_status`](crate::RedisCache::local_status) reports.
    pub(crate) fn snapshot(&self) -> LocalStatus {
        let (state, entries, bytes) = self.status();
        let state = match state {
            tier::LIVE => LocalState::Live,
            tier::DOWN => LocalState::Down,
            tier::REFUSED => LocalState::Refused,
            _ => LocalState::Starting,
        };
        LocalStatus {
            state,
            entries,
            bytes,
        }
    }
}

/// The local tier's own counts (invalidations, flushes), which belong to no function: in the
/// totals of [`Stats`](crate::Stats), not in `stats_by_function`.
#[cfg(feature = "local")]
pub(crate) const TIER: crate::stats::pending::Function = (TIER_NAME, &TIER_STATS);
/// The name the tier's counts go by in the `metrics` facade.
pub(crate) const TIER_NAME: &str = "rediscache::local";
#[cfg(feature = "local")]
static TIER_STATS: crate::stats::FunctionStats = crate::stats::FunctionStats::new();

/// Starts tracking for `tier` on `backend`'s servers: changed keys are applied as they are
/// read ([`listen::changed`]), the rest by a task ([`listen::listen`]).
#[cfg(feature = "local")]
pub(crate) fn start(
    tier: &Arc<Tier>,
    backend: &Backend,
    prefix: &str,
    count: impl Fn(Counter) + Send + Sync + 'static,
) {
    let count: Arc<dyn Fn(Counter) + Send + Sync> = Arc::new(count);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let changed = listen::changed(Arc::downgrade(tier), count.clone());
    crate::runtime::spawn(backend.track(prefix.to_owned(), changed, tx));
    crate::runtime::spawn(listen::listen(Arc::downgrade(tier), rx, count));
}

/// Test hooks, for the crate's own tests only: `fill_delay` between a fill's `GET` and its
/// insert; `unchecked` turns the stripe check off (the fill race is then open);
/// `ignore_changes` drops every invalidation Redis sends. Process-wide.
#[cfg(feature = "local")]
pub fn test_hooks(fill_delay: Duration, unchecked: bool, ignore_changes: bool) {
    use std::sync::atomic::Ordering::Relaxed;
    let us = u64::try_from(fill_delay.as_micros()).unwrap_or(u64::MAX);
    tier::hooks::FILL_DELAY_US.store(us, Relaxed);
    tier::hooks::UNCHECKED.store(unchecked, Relaxed);
    tier::hooks::IGNORE_CHANGES.store(ignore_changes, Relaxed);
}
