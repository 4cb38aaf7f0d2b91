//! What a cached function is: its name, its two clocks, its lease, whether a miss waits, and its
//! counts not yet added to Redis. `#[cache]` builds one as a `static`; code without the macro
//! does the same (its methods are in `src/function.rs`).

use std::time::Duration;

use super::generations::FunctionGens;
use crate::stats::FunctionStats;

/// A cached function, as a `static`: the same algorithm `#[cache]` uses, for code whose keys or
/// computations are only known at run time. A handle and a `#[cache]` function of the same name
/// and arguments share entries.
///
/// ```no_run
/// use std::sync::LazyLock;
/// use std::time::Duration;
/// use rediscache::{Function, RedisCache};
///
/// static CACHE: LazyLock<RedisCache> = LazyLock::new(|| RedisCache::new().expect("valid environment"));
/// static USER: Function = Function::new("app::user")
///     .refresh(Duration::from_secs(30))
///     .expire(Duration::from_secs(600))
///     .wait(true);
///
/// # async fn load(tenant: &str, id: u64) -> String { format!("{tenant}/{id}") }
/// # async fn demo() -> Result<(), rediscache::Error> {
/// let (tenant, id) = ("acme".to_string(), 7u64);
/// let t = tenant.clone();
/// let user: String = USER.get_or_compute(&CACHE, (&tenant, id), move || async move { load(&t, id).await }).await;
/// USER.invalidate(&CACHE, (&tenant, id)).await?;
/// USER.invalidate_all(&CACHE).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Function {
    /// The function's name in keys and logs.
    pub(crate) name: &'static str,
    /// Age after which a hit triggers a background refresh.
    pub(crate) refresh: Duration,
    /// Age after which the value is gone.
    pub(crate) expire: Duration,
    /// How long a computation keeps others from starting their own.
    pub(crate) retry: Duration,
    /// Whether `retry` was set, or follows `refresh`.
    retry_set: bool,
    /// Whether a miss waits for the real value instead of returning the default.
    pub(crate) wait: bool,
    /// Whether hits may come from the cache's local tier, when it has one.
    pub(crate) local: bool,
    /// This function's counts not yet added to Redis.
    pub(crate) stats: FunctionStats,
    /// This function's generations, as the first cache that read them knows them.
    pub(crate) gens: FunctionGens,
}

impl Function {
    /// `refresh` unless set: one minute.
    pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60);
    /// `expire` unless set: ten minutes.
    pub const DEFAULT_EXPIRE: Duration = Duration::from_secs(600);

    /// A function named `name` in keys, logs and stats (the macro's default is
    /// `module::path::function`), with `refresh` 1 min, `expire` 10 min, `retry` = `refresh`,
    /// and misses that wait.
    ///
    /// ```
    /// use rediscache::Function;
    ///
    /// static RATES: Function = Function::new("app::rates");
    /// assert_eq!(RATES.name(), "app::rates");
    /// ```
    pub const fn new(name: &'static str) -> Function {
        Function {
            name,
            refresh: Function::DEFAULT_REFRESH,
            expire: Function::DEFAULT_EXPIRE,
            retry: Function::DEFAULT_REFRESH,
            retry_set: false,
            wait: true,
            local: true,
            stats: FunctionStats::new(),
            gens: FunctionGens::new(),
        }
    }

    /// Age after which a hit triggers one background recompute (and `retry`, unless set).
    ///
    /// ```
    /// use std::time::Duration;
    /// use rediscache::Function;
    ///
    /// static F: Function = Function::new("app::f").refresh(Duration::from_secs(10));
    /// ```
    #[must_use]
    pub const fn refresh(mut self, refresh: Duration) -> Function {
        self.refresh = refresh;
        if !self.retry_set {
            self.retry = refresh;
        }
        self
    }

    /// Age after which the value is gone from Redis.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rediscache::Function;
    ///
    /// static F: Function = Function::new("app::f").expire(Duration::from_secs(3600));
    /// ```
    #[must_use]
    pub const fn expire(mut self, expire: Duration) -> Function {
        self.expire = expire;
        self
    }

    /// How long one computation keeps every other caller, in every process, from starting
    /// their own (default: `refresh`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use rediscache::Function;
    ///
    /// static F: Function = Function::new("app::f").retry(Duration::from_secs(5));
    /// ```
    #[must_use]
    pub const fn retry(mut self, retry: Duration) -> Function {
        self.retry = retry;
        self.retry_set = true;
        self
    }

    /// Whether a miss waits for the value (default) or, through
    /// [`get_or_default`](Function::get_or_default), returns the default at once while a
    /// background computation fills the cache.
    ///
    /// ```
    /// use rediscache::Function;
    ///
    /// static F: Function = Function::new("app::f").wait(false);
    /// ```
    #[must_use]
    pub const fn wait(mut self, wait: bool) -> Function {
        self.wait = wait;
        self
    }

    /// Whether hits may be served from the cache's local tier (default), when the cache has one
    /// ([`RedisCacheBuilder::local`](crate::RedisCacheBuilder::local)); `false` reads Redis on
    /// every call, as `#[cache(local = false)]` does.
    ///
    /// ```
    /// use rediscache::Function;
    ///
    /// static LIVE_PRICES: Function = Function::new("app::live_prices").local(false);
    /// ```
    #[must_use]
    pub const fn local(mut self, local: bool) -> Function {
        self.local = local;
        self
    }

    /// The function's name in keys, logs and stats.
    ///
    /// ```
    /// use rediscache::Function;
    ///
    /// static F: Function = Function::new("app::f");
    /// assert_eq!(F.name(), "app::f");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// How long an invalidation of one entry is remembered, refusing the stores of the
    /// computations that started before it: twice the longer of `expire` and `retry`, and at
    /// least ten minutes.
    pub(crate) fn invalidation_memory(&self) -> Duration {
        (self.expire.max(self.retry) * 2).max(Duration::from_secs(600))
    }

    /// How the function's counts know it.
    pub(crate) fn counted(&'static self) -> crate::stats::pending::Function {
        (self.name, &self.stats)
    }
}
