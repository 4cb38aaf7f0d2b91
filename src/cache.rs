//! `RedisCache`: one Redis database seen as a cache, shared by every function that names it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use crate::backend::Backend;
use crate::backend::topology::{Certs, Topology};
use crate::builder::RedisCacheBuilder;
use crate::call::flight::Flights;
use crate::call::function::Function;
use crate::call::generations::{self, Current, Generations};
use crate::config::Settings;
use crate::key::Key;
use crate::local::Tier;
use crate::stats::flush::Tally;
use crate::stats::observe::Throttle;
use crate::stats::{Counter, Stats};
use crate::{Error, runtime};

/// How often pending stats are added to Redis.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// A handle on a Redis database used as a cache. Cheap to clone; clones share connections,
/// in-flight computations and stats.
///
/// Put one in a `static` and name it in `#[cache(cache = ...)]`:
///
/// ```no_run
/// use std::sync::LazyLock;
/// use rediscache::{cache, RedisCache};
///
/// static CACHE: LazyLock<RedisCache> = LazyLock::new(|| {
///     RedisCache::builder().url("redis://127.0.0.1:6379/0").build().expect("valid configuration")
/// });
///
/// #[cache(cache = CACHE, refresh = "10s", expire = "1m")]
/// async fn exchange_rate(currency: &str) -> f64 {
///     // a slow call
///     1.08
/// }
///
/// # async fn demo() -> Result<(), rediscache::Error> {
/// let rate = exchange_rate("EUR").await;
/// exchange_rate_invalidate("EUR").await?;
/// let stats = CACHE.stats().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisCache {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    certs: Option<Certs>,
    /// `None` when the cache is disabled.
    topology: Option<Topology>,
    pub(crate) prefix: String,
    pub(crate) timeout: Duration,
    connect_timeout: Duration,
    pub(crate) max_value_bytes: usize,
    sync_connections: usize,
    backend: OnceLock<Option<Backend>>,
    pub(crate) flights: Arc<Flights>,
    /// Counts, and where they go in Redis.
    tally: Tally,
    flusher_started: AtomicBool,
    /// Limits the "calling the function instead" warnings of degraded calls.
    pub(crate) degraded_log: Throttle,
    /// The functions' generations, as this process knows them.
    pub(crate) generations: Generations,
    /// Entries in this process's memory, kept true by client tracking; `None` unless asked
    /// for (and always without the `local` feature).
    pub(crate) local: Option<Arc<Tier>>,
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RedisCache");
        match &self.inner.topology {
            Some(topology) => d.field("redis", &format_args!("{topology}")),
            None => d.field("enabled", &false),
        };
        d.field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

impl RedisCache {
    /// Starts a configuration; see [`RedisCacheBuilder`].
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder().prefix("myapp").build()?;
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn builder() -> RedisCacheBuilder {
        RedisCacheBuilder::default()
    }

    /// The cache configured by the environment and defaults: `RedisCache::builder().build()`.
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// // REDIS_URL or REDIS_SERVICE_HOST/_PORT/_DB/_PASSWORD, else localhost:6379, db 0.
    /// let cache = RedisCache::new()?;
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] when an environment variable is malformed.
    pub fn new() -> Result<RedisCache, Error> {
        RedisCache::builder().build()
    }

    pub(crate) fn from_parts(topology: Option<Topology>, settings: Settings) -> RedisCache {
        #[cfg(feature = "local")]
        let local = match (&topology, &settings.local) {
            (Some(_), Some(local)) => Some(Arc::new(local.tier())),
            _ => None,
        };
        #[cfg(not(feature = "local"))]
        let local = None;
        RedisCache {
            inner: Arc::new(Inner {
                local,
                generations: Generations::new(&settings.prefix),
                tally: Tally::new(
                    &settings.prefix,
                    topology.as_ref().is_some_and(Topology::is_cluster),
                ),
                topology,
                prefix: settings.prefix,
                certs: settings.certs,
                timeout: settings.timeout,
                connect_timeout: settings.connect_timeout,
                max_value_bytes: settings.max_value_bytes,
                sync_connections: settings.sync_connections,
                backend: OnceLock::new(),
                flights: Arc::default(),
                flusher_started: AtomicBool::new(false),
                degraded_log: Throttle::default(),
            }),
        }
    }

    /// A cache that is off: every call goes straight to the function.
    pub(crate) fn disabled() -> RedisCache {
        RedisCache::from_parts(None, Settings::default())
    }

    /// Whether calls use Redis at all.
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// assert!(RedisCache::builder().build()?.is_enabled());
    /// assert!(!RedisCache::builder().enabled(false).build()?.is_enabled());
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn is_enabled(&self) -> bool {
        self.inner.topology.is_some()
    }

    /// The key prefix.
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// assert_eq!(RedisCache::builder().prefix("app").build()?.prefix(), "app");
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The stats of every process using this Redis database and prefix. Includes everything
    /// this process counted before the call, and what others counted up to a second ago.
    ///
    /// ```no_run
    /// # async fn demo(cache: &rediscache::RedisCache) -> Result<(), rediscache::Error> {
    /// let stats = cache.stats().await?;
    /// println!("{} hits, {} misses, {} computations", stats.success, stats.missed, stats.refresh);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When Redis cannot be read; [`Error::Disabled`] when the cache is disabled.
    pub async fn stats(&self) -> Result<Stats, Error> {
        Ok(Stats::from_fields(&self.inner.read_stats(false).await?))
    }

    /// The same stats broken down by cached function (keyed by the function's name, by default
    /// `module::path::function`), shared through Redis like the totals.
    ///
    /// ```no_run
    /// # async fn demo(cache: &rediscache::RedisCache) -> Result<(), rediscache::Error> {
    /// for (function, stats) in cache.stats_by_function().await? {
    ///     println!("{function}: {} hits, {} misses", stats.success, stats.missed);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`stats`](Self::stats).
    pub async fn stats_by_function(&self) -> Result<BTreeMap<String, Stats>, Error> {
        Ok(Stats::by_function(&self.inner.read_stats(false).await?))
    }

    /// Reads the stats and resets them to zero in one atomic step.
    ///
    /// ```no_run
    /// # async fn demo(cache: &rediscache::RedisCache) -> Result<(), rediscache::Error> {
    /// // Report the last interval's counts, starting the next from zero.
    /// let last_minute = cache.take_stats().await?;
    /// println!("hit ratio {:.2}", last_minute.success as f64 / (last_minute.success + last_minute.missed).max(1) as f64);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`stats`](Self::stats).
    pub async fn take_stats(&self) -> Result<Stats, Error> {
        Ok(Stats::from_fields(&self.inner.read_stats(true).await?))
    }

    /// [`stats`](Self::stats) for sync code; needs no runtime.
    ///
    /// ```no_run
    /// # fn demo(cache: &rediscache::RedisCache) -> Result<(), rediscache::Error> {
    /// let stats = cache.stats_blocking()?;
    /// assert!(stats.success + stats.missed >= stats.default);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`stats`](Self::stats).
    pub fn stats_blocking(&self) -> Result<Stats, Error> {
        self.blocking(
            |inner| async move { Ok(Stats::from_fields(&inner.read_stats(false).await?)) },
        )
    }

    /// [`take_stats`](Self::take_stats) for sync code; needs no runtime.
    ///
    /// ```no_run
    /// # fn demo(cache: &rediscache::RedisCache) -> Result<(), rediscache::Error> {
    /// let stats = cache.take_stats_blocking()?;
    /// assert_eq!(cache.stats_blocking()?.success, 0); // if nothing was counted in between
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`stats`](Self::stats).
    pub fn take_stats_blocking(&self) -> Result<Stats, Error> {
        self.blocking(|inner| async move { Ok(Stats::from_fields(&inner.read_stats(true).await?)) })
    }

    /// [`stats_by_function`](Self::stats_by_function) for sync code; needs no runtime.
    ///
    /// ```no_run
    /// # fn demo(cache: &rediscache::RedisCache) -> Result<(), rediscache::Error> {
    /// let by_function = cache.stats_by_function_blocking()?;
    /// let busiest = by_function.iter().max_by_key(|(_, s)| s.success + s.missed);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`stats`](Self::stats).
    pub fn stats_by_function_blocking(&self) -> Result<BTreeMap<String, Stats>, Error> {
        self.blocking(
            |inner| async move { Ok(Stats::by_function(&inner.read_stats(false).await?)) },
        )
    }

    /// Where the local tier stands, how many entries it holds and what they weigh; `None` when
    /// the cache has none ([`RedisCacheBuilder::local`]).
    ///
    /// ```
    /// use rediscache::{Local, LocalState, RedisCache};
    ///
    /// let cache = RedisCache::builder().local(Local::new()).build()?;
    /// let status = cache.local_status().expect("asked for");
    /// assert_eq!(status.state, LocalState::Starting); // until the first call connects
    /// assert!(RedisCache::new()?.local_status().is_none());
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    #[cfg(feature = "local")]
    #[cfg_attr(docsrs, doc(cfg(feature = "local")))]
    pub fn local_status(&self) -> Option<crate::LocalStatus> {
        self.inner.local.as_ref().map(|tier| tier.snapshot())
    }

    /// Checks that Redis answers and accepts the credentials.
    ///
    /// ```no_run
    /// # async fn demo(cache: &rediscache::RedisCache) {
    /// // A readiness check: the real cause when Redis is away or refuses the password.
    /// if let Err(e) = cache.ping().await {
    ///     eprintln!("cache degraded: {e}");
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    /// The Redis error or timeout; [`Error::Disabled`] when the cache is disabled.
    pub async fn ping(&self) -> Result<(), Error> {
        self.inner.backend()?.ping().await
    }

    /// [`ping`](Self::ping) for sync code.
    ///
    /// ```no_run
    /// # fn demo(cache: &rediscache::RedisCache) -> Result<(), rediscache::Error> {
    /// cache.ping_blocking()?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`ping`](Self::ping).
    pub fn ping_blocking(&self) -> Result<(), Error> {
        self.blocking(|inner| async move { inner.backend()?.ping().await })
    }

    /// Call at shutdown: adds to Redis every count not yet flushed, after waiting, at most
    /// the [`timeout`](RedisCacheBuilder::timeout), for the computations and stores under way
    /// (background refreshes, and late stores after a blip, included). Without it, what a process counted in its last 250 ms
    /// is lost when it exits. The cache keeps working afterwards; a disabled cache has nothing
    /// to do.
    ///
    /// ```no_run
    /// # async fn serve() {}
    /// # async fn demo(cache: &rediscache::RedisCache) {
    /// serve().await; // until SIGTERM or Ctrl-C
    /// if let Err(e) = cache.close().await {
    ///     eprintln!("cache stats not flushed: {e}");
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    /// When Redis cannot take the counts (they stay pending, and a later flush may add them).
    pub async fn close(&self) -> Result<(), Error> {
        if !self.is_enabled() {
            return Ok(());
        }
        let backend = self.inner.backend()?;
        let deadline = tokio::time::Instant::now() + self.inner.timeout;
        while backend.stores_in_flight() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.inner.tally.flush(Ok(backend)).await
    }

    /// [`close`](Self::close) for sync code; needs no runtime.
    ///
    /// ```no_run
    /// # fn demo(cache: &rediscache::RedisCache) {
    /// // At the end of main:
    /// cache.close_blocking().ok();
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`close`](Self::close).
    pub fn close_blocking(&self) -> Result<(), Error> {
        if !self.is_enabled() {
            return Ok(());
        }
        let cache = self.clone();
        self.blocking(|_| async move { cache.close().await })
    }

    fn blocking<T, F: Future<Output = Result<T, Error>>>(
        &self,
        op: impl FnOnce(Arc<Inner>) -> F,
    ) -> Result<T, Error> {
        let handle = runtime::handle().ok_or(Error::NoRuntime)?;
        runtime::block_on(handle, op(self.inner.clone()))
    }
}

impl Inner {
    /// The connections, prepared on first use.
    pub(crate) fn backend(self: &Arc<Self>) -> Result<&Backend, Error> {
        let topology = self.topology.as_ref().ok_or(Error::Disabled)?;
        let backend = self.backend.get_or_init(|| {
            let handle = runtime::handle()?;
            let _context = handle.enter();
            Backend::new(
                topology,
                self.certs.as_ref(),
                self.timeout,
                self.connect_timeout,
                self.sync_connections,
            )
                .map_err(|e| tracing::error!(redis = %topology, error = %e, "rediscache: cannot set up connections; calls run uncached"))
                .ok()
                .inspect(|backend| self.start_local(backend))
        });
        let backend = backend.as_ref().ok_or(Error::NoConnections)?;
        self.start_flusher();
        Ok(backend)
    }

    /// Starts the local tier's tracking, if the cache has one.
    fn start_local(self: &Arc<Self>, backend: &Backend) {
        #[cfg(feature = "local")]
        if let Some(tier) = &self.local {
            let weak = Arc::downgrade(self);
            crate::local::start(tier, backend, &self.prefix, move |c| {
                if let Some(inner) = weak.upgrade() {
                    inner.tally.count(crate::local::TIER, c);
                }
            });
        }
        #[cfg(not(feature = "local"))]
        let _ = backend;
    }

    /// The local tier, if the cache has one and `f` uses it.
    pub(crate) fn local_for(&self, f: &'static Function) -> Option<&Tier> {
        self.local.as_deref().filter(|_| f.local)
    }

    /// The key of function `name`'s entry for `args`.
    pub(crate) fn key(&self, name: &str, args: String) -> Key {
        Key::new(&self.prefix, name, args)
    }

    /// `f`'s generations: from memory (two atomic loads), or read from Redis on `f`'s first call
    /// through this cache, which also starts keeping them up to date.
    pub(crate) async fn generations(
        self: &Arc<Self>,
        f: &'static Function,
        backend: &Backend,
    ) -> Result<Current, Error> {
        if let Some(current) = self.generations.current(f) {
            return Ok(current);
        }
        let current = Box::pin(self.generations.load(f, backend)).await?;
        if self.generations.start_watching() {
            runtime::spawn(generations::watch(Arc::downgrade(self), |inner: &Inner| {
                inner
                    .backend
                    .get()?
                    .as_ref()
                    .map(|b| (&inner.generations, b))
            }));
        }
        Ok(current)
    }

    /// Starts a new generation of the function `name` (`hard`: its entries are misses; soft:
    /// stale), for every process; this one knows at once.
    pub(crate) async fn bump(self: &Arc<Self>, name: &str, hard: bool) -> Result<(), Error> {
        let backend = self.backend()?;
        let key = &self.generations.key;
        let new = backend.bump(key, name, hard, key).await?;
        let (h, s) = if hard { (new, 0) } else { (0, new) };
        self.generations.raise(name, h, s);
        Ok(())
    }

    /// Counts `c` for function `opts`: one atomic add on the common path.
    pub(crate) fn count(&self, opts: &'static Function, c: Counter) {
        self.tally.count(opts.counted(), c);
    }

    /// Every field of the stats hashes; with `reset`, deleted.
    async fn read_stats(self: &Arc<Self>, reset: bool) -> Result<HashMap<String, i64>, Error> {
        self.tally.read(self.backend()?, reset).await
    }

    fn start_flusher(self: &Arc<Self>) {
        // A load first: this runs on every call, and a swap would write a shared cache line.
        if self.flusher_started.load(Ordering::Relaxed)
            || self.flusher_started.swap(true, Ordering::Relaxed)
        {
            return;
        }
        let weak = Arc::downgrade(self);
        runtime::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                if inner.tally.any() {
                    if let Err(e) = inner.tally.flush(inner.backend()).await {
                        tracing::debug!(error = %e, "rediscache: stats flush failed; will retry");
                    }
                }
            }
        });
    }
}

/// The cache used when `#[cache]` names none: [`RedisCache::new()`], configured by the
/// environment. A malformed environment is logged once and gives a disabled cache, so calls still
/// work.
pub fn default_cache() -> &'static RedisCache {
    static DEFAULT: LazyLock<RedisCache> = LazyLock::new(|| match RedisCache::new() {
        Ok(cache) => cache,
        Err(e) => {
            tracing::error!(error = %e, "rediscache: bad configuration in the environment; caching is off");
            RedisCache::disabled()
        }
    });
    &DEFAULT
}
