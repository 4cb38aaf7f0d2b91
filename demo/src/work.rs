//! The slow function the demo serves, directly, through the cache, and through the cache with
//! its local tier (hits from memory), and the count of its executions, kept in Redis so that
//! every worker process adds to the same numbers.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rediscache::{RedisCache, cache};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// The demo's cache, configured once at startup by [`install_cache`].
static CACHE: OnceLock<RedisCache> = OnceLock::new();

/// The same Redis and prefix with the local tier on, for [`local`]; set by [`install_cache`].
static LOCAL_CACHE: OnceLock<RedisCache> = OnceLock::new();

/// Makes `cache` the one [`cached`] uses, and `local` (the same Redis and prefix, with
/// `.local(..)`) the one [`local`] uses. Only the first call counts: a process serves one
/// configuration; later calls return `false`.
pub fn install_cache(cache: RedisCache, local: RedisCache) -> bool {
    CACHE.set(cache).is_ok() && LOCAL_CACHE.set(local).is_ok()
}

/// The demo's cache. Before [`install_cache`], a disabled one: calls go straight through.
pub fn demo_cache() -> &'static RedisCache {
    CACHE.get_or_init(|| {
        RedisCache::builder()
            .enabled(false)
            .from_env(false)
            .build()
            .unwrap_or_else(|e| unreachable!("a disabled cache without settings is valid: {e}"))
    })
}

/// The cache of [`local`]. Before [`install_cache`], a disabled one: calls go straight through.
pub fn local_cache() -> &'static RedisCache {
    LOCAL_CACHE.get_or_init(|| {
        RedisCache::builder()
            .enabled(false)
            .from_env(false)
            .build()
            .unwrap_or_else(|e| unreachable!("a disabled cache without settings is valid: {e}"))
    })
}

/// Which route ran the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/direct/{value}`: every request runs it.
    Direct,
    /// `/cached/{value}`: the cache runs it on a miss or a refresh.
    Cached,
    /// `/local/{value}`: the same through the cache with its local tier.
    Local,
}

impl Route {
    /// The route's name in stats, metrics and the load report.
    pub fn name(self) -> &'static str {
        match self {
            Route::Direct => "direct",
            Route::Cached => "cached",
            Route::Local => "local",
        }
    }
}

/// What one execution of the slow function returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The value asked for.
    pub value: String,
    /// The result of the heavy computation over `value`.
    pub digest: String,
    /// The execution's number, counted across all workers (0 when Redis could not count it).
    pub execution: u64,
    /// The worker process that ran it.
    pub worker: u32,
    /// When it was computed, in milliseconds since the Unix epoch.
    pub computed_at_ms: u64,
}

/// How slow the function is, and where its executions are counted. Cheap to clone: the cache
/// clones it for background refreshes.
#[derive(Clone)]
pub struct Work {
    inner: Arc<WorkInner>,
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Work")
            .field("worker", &self.worker())
            .finish_non_exhaustive()
    }
}

struct WorkInner {
    io: Duration,
    rounds: u32,
    worker: u32,
    executions: Executions,
}

impl Work {
    /// A function that waits `io` (a remote call), then hashes its input `rounds` times (a heavy
    /// computation), counting its executions in the Redis at `redis_url` under `prefix`.
    pub fn new(io: Duration, rounds: u32, worker: u32, redis_url: &str, prefix: &str) -> Work {
        Work {
            inner: Arc::new(WorkInner {
                io,
                rounds,
                worker,
                executions: Executions::new(redis_url, prefix),
            }),
        }
    }

    /// The worker's number.
    pub fn worker(&self) -> u32 {
        self.inner.worker
    }

    /// Executions so far, per route, across all workers.
    pub async fn executions(&self) -> Result<ExecutionCounts, redis::RedisError> {
        self.inner.executions.read().await
    }
}

/// Executions per route, as [`Work::executions`] reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExecutionCounts {
    /// Runs for `/direct`.
    pub direct: u64,
    /// Runs for `/cached`.
    pub cached: u64,
    /// Runs for `/local`.
    pub local: u64,
}

/// The slow function itself: `io` of waiting, then the heavy part on a blocking thread.
pub async fn compute(work: &Work, value: &str, route: Route) -> Answer {
    let execution = work.inner.executions.add(route).await;
    metrics::counter!("demo_executions_total", "route" => route.name()).increment(1);
    tokio::time::sleep(work.inner.io).await;
    let (input, rounds) = (value.to_owned(), work.inner.rounds);
    let digest = tokio::task::spawn_blocking(move || heavy(&input, rounds))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    Answer {
        value: value.to_owned(),
        digest,
        execution,
        worker: work.inner.worker,
        computed_at_ms: crate::now_ms(),
    }
}

/// `/direct/{value}`: runs the function every time.
pub async fn direct(work: &Work, value: &str) -> Answer {
    compute(work, value, Route::Direct).await
}

/// The cached function's name in keys and stats.
pub const CACHED_NAME: &str = "demo::cached";

/// `/cached/{value}`: fresh for 2 s, then served stale while one refresh runs; gone after 10 s
/// (the Python demo's settings). A miss waits for the value, and concurrent misses of the same
/// value, in every worker, share one execution.
#[cache(cache = demo_cache(), name = "demo::cached", refresh = 2, expire = 10, wait = true, skip(work))]
pub async fn cached(work: &Work, value: &str) -> Answer {
    compute(work, value, Route::Cached).await
}

/// The name of [`local`]'s function in keys and stats.
pub const LOCAL_NAME: &str = "demo::local";

/// `/local/{value}`: [`cached`] through the cache with the local tier: a hit is served from this
/// worker's memory, kept true by Redis (a refresh or an invalidation in any worker drops the
/// copy, and the next hit reads Redis once).
#[cache(cache = local_cache(), name = "demo::local", refresh = 2, expire = 10, wait = true, skip(work))]
pub async fn local(work: &Work, value: &str) -> Answer {
    compute(work, value, Route::Local).await
}

/// SHA-256 applied `rounds` times: CPU work that grows with `rounds`.
fn heavy(value: &str, rounds: u32) -> String {
    let mut digest = Sha256::digest(value.as_bytes());
    for _ in 1..rounds {
        digest = Sha256::digest(digest);
    }
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Execution counts in one Redis hash, so every worker adds to the same numbers. A failure to
/// count is logged and the function runs anyway.
struct Executions {
    client: Option<redis::Client>,
    key: String,
    conn: OnceCell<redis::aio::ConnectionManager>,
}

impl Executions {
    fn new(redis_url: &str, prefix: &str) -> Executions {
        let client = redis::Client::open(redis_url)
            .inspect_err(|e| tracing::warn!("demo: executions will not be counted: {e}"))
            .ok();
        Executions {
            client,
            key: format!("{prefix}:executions"),
            conn: OnceCell::new(),
        }
    }

    async fn conn(&self) -> Result<redis::aio::ConnectionManager, redis::RedisError> {
        let client = self.client.as_ref().ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "bad Redis URL"))
        })?;
        // Counting is best effort: without Redis, a request must not wait through retries.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(100))
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)));
        self.conn
            .get_or_try_init(|| client.get_connection_manager_with_config(config))
            .await
            .cloned()
    }

    /// Counts one execution for `route`; returns its number, or 0 when Redis did not answer.
    async fn add(&self, route: Route) -> u64 {
        let counted = async {
            let mut conn = self.conn().await?;
            redis::cmd("HINCRBY")
                .arg(&self.key)
                .arg(route.name())
                .arg(1)
                .query_async::<u64>(&mut conn)
                .await
        };
        counted
            .await
            .inspect_err(|e| tracing::warn!("demo: could not count an execution: {e}"))
            .unwrap_or(0)
    }

    async fn read(&self) -> Result<ExecutionCounts, redis::RedisError> {
        let mut conn = self.conn().await?;
        let (direct, cached, local): (Option<u64>, Option<u64>, Option<u64>) = redis::cmd("HMGET")
            .arg(&self.key)
            .arg("direct")
            .arg("cached")
            .arg("local")
            .query_async(&mut conn)
            .await?;
        Ok(ExecutionCounts {
            direct: direct.unwrap_or(0),
            cached: cached.unwrap_or(0),
            local: local.unwrap_or(0),
        })
    }
}
