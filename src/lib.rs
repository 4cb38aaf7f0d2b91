//! Cache the results of functions in Redis with two clocks.
//!
//! ```no_run
//! use rediscache::cache;
//!
//! #[cache(refresh = "10s", expire = "1m")]
//! async fn exchange_rate(currency: &str) -> f64 {
//!     // a slow call to a remote API
//!     1.08
//! }
//! ```
//!
//! - **refresh**: a value older than this is still returned at once, and one caller in the
//!   whole fleet recomputes it in the background (stale-while-revalidate);
//! - **expire**: a value older than this is gone from Redis;
//! - **retry**: the lease that keeps every other caller, in every process, from recomputing the
//!   same value in parallel (defaults to `refresh`);
//! - on a miss, the `default` is returned at once while a background computation fills the
//!   cache; with `wait = true` the caller gets the real value, and all concurrent waiters, in all
//!   processes, share one computation and wake the moment its value lands.
//!
//! A hit costs one Redis round trip, fresh or stale (none from the local tier, `Local`): the
//! entry carries the time it was written, so freshness is decided without asking Redis twice.
//! Stats are counted locally and added to Redis in batches.
//!
//! # Contents
//! - [`cache`]: the attribute and every option; [`methods`] for methods.
//! - [`RedisCache`] and [`RedisCacheBuilder`]: where the cache lives (code > environment >
//!   defaults): one server, a Redis Cluster ([`RedisCacheBuilder::cluster`]), a primary behind
//!   Redis Sentinel ([`RedisCacheBuilder::sentinel`]), with TLS
//!   ([`RedisCacheBuilder::tls_ca_file`]) and ACL users; each topology beyond one server is a
//!   [feature](#features).
//! - [`Stats`]: counters shared by every process using the same Redis database, in total and per
//!   function ([`RedisCache::stats_by_function`]); the same counters and a recompute-duration
//!   histogram through the `metrics` facade, and `tracing` spans on the slow paths.
//! - [`Local`] (feature `local`): hits served from this process's memory too, kept true by
//!   Redis's own invalidations (client tracking); [`RedisCache::local_status`].
//! - [`Error`]: what configuration, invalidation and stats reads can report. A cached call never
//!   fails because of the cache: when Redis fails, the function runs.
//!
//! # Generated functions
//! Beside a cached `NAME`, the attribute generates, async iff `NAME` is (for methods, as
//! methods with the same receiver, or associated functions):
//! - `NAME_uncached(..)`: calls the function itself; the cache is untouched;
//! - `NAME_invalidate(..) -> Result<(), Error>`: removes the entry for these arguments;
//! - `NAME_invalidate_all() -> Result<(), Error>`: every entry of the function a miss, in every
//!   process;
//! - `NAME_expire_all() -> Result<(), Error>`: every entry stale, in every process (served
//!   while one refresh runs);
//! - `NAME_refresh(..) -> R`: computes now, stores and returns, whatever the freshness;
//! - `NAME_set(&value, ..) -> Result<(), Error>`: stores `value` (the `Ok` type for a `Result`
//!   function) for these arguments, given after it;
//! - `NAME_get(..) -> Result<Option<Cached<V>>, Error>`: the entry with its age and freshness,
//!   computing nothing.
//!
//! `(..)` are `NAME`'s parameters. All of them use the function's one [`Function`], so a
//! [`Function`] handle of the same name and arguments shares their entries.
//! [`methods`] caches methods.
//!
//! # Requirements on types
//! - The return type (for `Result<T, E>`, the `T`) implements `Serialize + DeserializeOwned`
//!   and is `Send + 'static`. Only `Ok` values are cached; `None` of an `Option` is a value.
//! - Arguments in the key implement `Serialize`; `skip(..)` leaves some out (they need no serde).
//! - Background recomputes own their arguments: an argument taken by value must be
//!   `Send + 'static`; an argument taken by reference (`&str`, `&T`) is copied with `ToOwned`
//!   (`&str` becomes a `String`, `&T` needs `T: Clone`), whose result must be `Send + 'static`.
//! - Without `default` and with `wait = false`, the return type implements `Default`.
//!
//! # Sync functions
//! A cached sync function needs no tokio runtime: the crate runs its own small background
//! runtime for connections and refreshes. Calling it from async code blocks that task's thread
//! for one round trip on a hit (as any blocking call would); prefer `spawn_blocking` or an async
//! function there.
//!
//! # Features
//! All four are on by default, so every topology works as documented. For one plain Redis
//! server, `default-features = false` leaves out TLS, cluster and sentinel support and the
//! `metrics` facade: 20 of the 106 crates, rustls and ring among them, and about half the
//! release build time (the README has the measurements):
//!
//! ```toml
//! rediscache = { version = "0.1", default-features = false }                        # one server
//! rediscache = { version = "0.1", default-features = false, features = ["cluster"] } # or pick
//! ```
//!
//! | feature | adds | brings in |
//! |---|---|---|
//! | `tls` | `rediss://` URLs, [`tls_ca_file`](RedisCacheBuilder::tls_ca_file), [`tls_client_cert`](RedisCacheBuilder::tls_client_cert) | `rustls` (with `ring`), redis's `tokio-rustls-comp` |
//! | `cluster` | [`cluster`](RedisCacheBuilder::cluster) | redis's `cluster-async` |
//! | `sentinel` | [`sentinel`](RedisCacheBuilder::sentinel) | redis's `sentinel` |
//! | `metrics` | `rediscache_events_total` and `rediscache_recompute_seconds` through the [`metrics`](https://docs.rs/metrics) facade | `metrics` |
//!
//! Without its feature a builder method does not exist, so asking for it is a compile error;
//! a `rediss://` URL (in code or `REDIS_URL`) without `tls` is an [`Error::Config`] from
//! `build()` that names the feature. [`Stats`] and `tracing` are there either way.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    deny(clippy::panic, clippy::unwrap_used, clippy::expect_used)
)]

// The handles: a cache and its configuration, and a cached function without the macro.
mod builder;
mod cache;
mod config;
mod function;
// One call of a cached function: the algorithm, storing, single flight, freshness.
mod call;
// Everything that speaks to Redis.
mod backend;
// Counters, their batches and flushes, metrics and the log limiter.
mod stats;
// The local tier: hits from memory, kept true by client tracking.
mod local;
// Small pieces every layer uses.
mod clock;
mod codec;
mod error;
mod key;
mod runtime;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use builder::RedisCacheBuilder;
pub use cache::RedisCache;
pub use call::direct::Cached;
pub use call::freshness::Freshness;
pub use call::function::Function;
pub use error::Error;
pub use function::Args;
#[cfg(feature = "local")]
pub use local::{Local, LocalState, LocalStatus};
pub use stats::Stats;

/// Caches a function's results in Redis. See the [crate docs](crate) for the semantics.
///
/// # Options
/// | option | meaning | default |
/// |---|---|---|
/// | `refresh = D` | age after which a hit triggers one background recompute | required |
/// | `expire = D` | age after which the value is gone | required |
/// | `retry = D` | how long one computation keeps others from starting | `refresh` |
/// | `cache = EXPR` | the cache: `&*EXPR` is a `&RedisCache` | `RedisCache::new()` |
/// | `default = EXPR` | returned on a miss while the value is computed | `Default::default()` |
/// | `wait = BOOL` | a miss waits for the real value | `false` |
/// | `skip(a, b)` | arguments left out of the key | none |
/// | `name = "..."` | the function's name in keys | `module_path::fn_name`; for methods, `module_path::Type::method` |
/// | `key_self = EXPR` | a method's key starts with this expression over `self` | `self` not in the key |
///
/// `D` is an integer number of seconds or a string like `"250ms"`, `"1m30s"`, `"2h"`, `"1d"`.
///
/// ```no_run
/// use std::sync::LazyLock;
/// use rediscache::{cache, RedisCache};
///
/// static CACHE: LazyLock<RedisCache> = LazyLock::new(|| RedisCache::new().expect("valid environment"));
///
/// #[cache(cache = CACHE, refresh = "500ms", expire = "1m", retry = "5s", wait = true)]
/// fn report(month: &str) -> Vec<String> {
///     vec![format!("lines of {month}")]
/// }
///
/// let lines = report("2026-11");
/// report_invalidate("2026-11").expect("redis answers");
/// let fresh = report_uncached("2026-11");
/// ```
pub use rediscache_macros::cache;

/// Caches the `#[cache(..)]` methods of an `impl` block, each named `module::Type::method` in
/// keys, with its companions as associated items (`repo.user_invalidate(7)`,
/// `UserRepo::user_invalidate_all()`). Inherent and trait impls (the companions of a trait impl
/// go in an inherent impl of their own); with `#[async_trait]`, put `#[methods]` above it.
///
/// `self` is not part of the key (every instance shares the entries) unless `key_self = EXPR`
/// adds an expression over `self` as the key's first element. A background refresh owns a copy
/// of the receiver: `&self` needs `Self: Clone + Send + Sync + 'static`, `self: Arc<Self>`
/// clones the `Arc`; `&mut self` is a compile error. A generic impl needs `name = ".."` on each
/// cached method.
///
/// ```no_run
/// use std::sync::LazyLock;
/// use rediscache::{cache, methods, RedisCache};
///
/// static CACHE: LazyLock<RedisCache> = LazyLock::new(|| RedisCache::new().expect("valid environment"));
///
/// #[derive(Clone)]
/// struct Prices { tenant: String }
///
/// #[methods]
/// impl Prices {
///     #[cache(cache = CACHE, refresh = "30s", expire = "10m", wait = true, key_self = self.tenant)]
///     async fn price(&self, sku: &str) -> u64 {
///         sku.len() as u64 // a slow lookup of this tenant's price
///     }
/// }
///
/// # async fn demo() -> Result<(), rediscache::Error> {
/// let prices = Prices { tenant: "acme".into() };
/// let p = prices.price("A-1").await;   // key `module::Prices::price("acme","A-1")`
/// prices.price_invalidate("A-1").await?;
/// Prices::price_invalidate_all().await?;
/// # Ok(()) }
/// ```
pub use rediscache_macros::methods;

// Its topology examples use all three.
#[cfg(all(doctest, feature = "tls", feature = "cluster", feature = "sentinel"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// A builder method whose feature is off does not exist: each block compiles with its feature
/// and fails to without it (`.ci/run` runs the doctests with all features and with none).
#[cfg(doctest)]
#[cfg_attr(feature = "cluster", doc = "```")]
#[cfg_attr(not(feature = "cluster"), doc = "```compile_fail")]
/// let _ = rediscache::RedisCache::builder().cluster(["redis://127.0.0.1:7000"]).build();
/// ```
#[cfg_attr(feature = "sentinel", doc = "```")]
#[cfg_attr(not(feature = "sentinel"), doc = "```compile_fail")]
/// let _ = rediscache::RedisCache::builder().sentinel(["redis://127.0.0.1:26379"], "m").build();
/// ```
#[cfg_attr(feature = "tls", doc = "```")]
#[cfg_attr(not(feature = "tls"), doc = "```compile_fail")]
/// let _ = rediscache::RedisCache::builder().tls_ca_file("ca.crt").build();
/// ```
#[cfg_attr(feature = "tls", doc = "```")]
#[cfg_attr(not(feature = "tls"), doc = "```compile_fail")]
/// let _ = rediscache::RedisCache::builder().tls_client_cert("c.crt", "c.key").build();
/// ```
struct FeatureGates;
