//! What generated code names: `::rediscache::__private::...`. Not public API; may change in any
//! release.

use std::sync::LazyLock;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::call_async::{AsyncJob, call_async, invalidate_async};
pub use crate::call_sync::{SyncJob, call_sync, invalidate_sync};
pub use crate::shape::{Fallible, Plain};
use crate::{Error, RedisCache};

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

/// A cached function's pending counts, in its `static` options: counting is one atomic add,
/// with no lookup. The cache that first counts for the function owns and flushes them (see
/// `pending.rs`).
#[derive(Debug)]
pub struct FunctionStats {
    pub(crate) counters: crate::stats::Counters,
    /// The id of the cache that owns `counters`; 0 until one counts.
    pub(crate) owner: std::sync::atomic::AtomicU64,
    /// `rediscache_events_total{function, event}` handles, registered on first use.
    pub(crate) metrics: std::sync::OnceLock<[metrics::Counter; 8]>,
}

impl FunctionStats {
    /// No counts yet.
    pub const fn new() -> FunctionStats {
        FunctionStats {
            counters: crate::stats::Counters::new(),
            owner: std::sync::atomic::AtomicU64::new(0),
            metrics: std::sync::OnceLock::new(),
        }
    }
}

impl Default for FunctionStats {
    fn default() -> FunctionStats {
        FunctionStats::new()
    }
}

impl Options {
    /// A duration from milliseconds, for the macro's `static`.
    pub const fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
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

/// A cached function's return value (or its `Ok` type) must travel through Redis.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: it must implement `serde::Serialize` and `serde::de::DeserializeOwned`",
    label = "this type is stored in Redis",
    note = "derive them with `#[derive(serde::Serialize, serde::Deserialize)]`"
)]
pub trait CacheValue {}
impl<T: Serialize + DeserializeOwned> CacheValue for T {}

/// Checks at compile time that `T` can be cached, pointing at the return type.
pub const fn assert_value<T: CacheValue + ?Sized>() {}

/// An argument that is part of the key must serialize.
#[diagnostic::on_unimplemented(
    message = "argument of type `{Self}` cannot be part of the cache key: it must implement `serde::Serialize`",
    label = "this argument goes into the key",
    note = "derive `serde::Serialize`, or leave it out of the key with `skip(name)`"
)]
pub trait KeyArg: Serialize {}
impl<T: Serialize + ?Sized> KeyArg for T {}

/// Renders the key arguments of a call before the call takes ownership of them.
#[derive(Debug, Default)]
pub struct KeyArgs(crate::key::ArgsWriter);

impl KeyArgs {
    /// No arguments yet.
    pub fn new() -> KeyArgs {
        KeyArgs::default()
    }

    /// Appends one argument; the only place its `Serialize` bound is checked.
    pub fn arg<T: KeyArg + ?Sized>(mut self, arg: &T) -> KeyArgs {
        self.0.arg(arg);
        self
    }

    /// The rendered arguments.
    pub fn finish(self) -> Result<String, Error> {
        self.0.finish()
    }
}

/// The value returned on a miss when `default` is not given and `wait` is false.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `Default`, so a miss has nothing to return at once",
    label = "needs a default value",
    note = "give one with `#[cache(default = ...)]`, or make misses wait for the value with `wait = true`"
)]
pub trait DefaultValue {
    /// The default value.
    fn default_value() -> Self;
}
impl<T: Default> DefaultValue for T {
    fn default_value() -> Self {
        T::default()
    }
}

/// Owns a reference argument for a background recompute (`&str` gives a `String`, `&T` a
/// clone).
#[diagnostic::on_unimplemented(
    message = "argument of type `&{Self}` cannot be copied for a background recompute: `{Self}` must implement `Clone`",
    label = "a background recompute owns a copy of this argument",
    note = "derive `Clone`, or take the argument by value"
)]
pub trait OwnArg: ToOwned {}
impl<T: ToOwned + ?Sized> OwnArg for T {}

/// Owns a reference argument.
pub fn own<T: OwnArg + ?Sized>(r: &T) -> T::Owned {
    r.to_owned()
}
