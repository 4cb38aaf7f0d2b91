//! What every measurement needs (the server, the runtimes, the connections, the keys), and the
//! async callers.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use rediscache::{RedisCache, RedisCacheBuilder};
use testkit::RedisServer;
use tokio::runtime::Runtime;

use crate::{
    CACHE, CACHE_VIA_RUNTIME, cached_async, cached_async_invalidate, cached_sync,
    cached_sync_invalidate, cached_sync_via_runtime, cached_sync_via_runtime_invalidate,
    count_hits, env_u64, value_bytes,
};

/// Concurrent tasks or threads in the throughput measurements.
pub(crate) const CONCURRENCY: usize = 64;

/// Calls made by worker `i` of [`CONCURRENCY`] when `n` calls are shared out.
pub(crate) fn share(n: u64, i: usize) -> u64 {
    let workers = CONCURRENCY as u64;
    n / workers + u64::from((i as u64) < n % workers)
}

/// What an async caller does once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AsyncOp {
    /// `GET` on a multiplexed connection of the caller's runtime: the baseline.
    Raw,
    /// A hit of the cached async function.
    Cached,
}

/// The connections an async caller may use; cheap to clone, one clone per task.
#[derive(Clone)]
struct AsyncCaller {
    conn: MultiplexedConnection,
    raw_key: Arc<str>,
}

impl AsyncCaller {
    async fn call(&mut self, op: AsyncOp) -> Vec<u8> {
        let key = &*self.raw_key;
        let got: Option<Vec<u8>> = match op {
            AsyncOp::Raw => self.conn.get(key).await.expect("raw GET"),
            AsyncOp::Cached => return cached_async(black_box(1)).await,
        };
        got.expect("raw key present")
    }
}

/// The server, the runtimes, the connections and the keys (the caches are in `main.rs`).
pub(crate) struct Fixture {
    pub server: RedisServer,
    /// The bench's ("the user's") runtime: async callers run in its tasks.
    pub rt: Runtime,
    /// A runtime shaped like the crate's background one (2 workers), driving `side_conn`.
    pub side: Runtime,
    /// A multiplexed connection of `side`, for the sync `raw GET via block_on` baseline.
    pub side_conn: MultiplexedConnection,
    caller: AsyncCaller,
    /// Holds a blob as long as the cached entries, under a key as long as theirs.
    pub raw_key: String,
    /// The entry of `cached_async(1)`.
    pub entry_key: String,
}

impl Fixture {
    /// Starts the server, sets [`CACHE`], opens the connections and fills both cached entries.
    pub(crate) fn start() -> Fixture {
        let server = RedisServer::start();
        let sync_connections = env_u64(
            "HITS_SYNC_CONNECTIONS",
            RedisCacheBuilder::DEFAULT_SYNC_CONNECTIONS as u64,
        );
        let cache = RedisCache::builder()
            .url(server.url())
            .sync_connections(sync_connections as usize)
            .from_env(false)
            .build()
            .expect("valid cache configuration");
        CACHE.set(cache);
        let via_runtime = RedisCache::builder()
            .url(server.url())
            .db(1)
            .sync_connections(0)
            .from_env(false)
            .build()
            .expect("valid cache configuration");
        CACHE_VIA_RUNTIME.set(via_runtime);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("bench runtime");
        let side = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("side")
            .enable_all()
            .build()
            .expect("side runtime");

        // A multiplexed connection's driver task is spawned on the runtime it is opened from.
        let client = redis::Client::open(server.url()).expect("url");
        let conn = rt
            .block_on(client.get_multiplexed_async_connection())
            .expect("raw connection");
        let side_conn = side
            .block_on(client.get_multiplexed_async_connection())
            .expect("side connection");
        // Fill both entries (wait = true: the first call stores before returning). The async
        // one is filled from a task of `rt`, which also opens the cache's connection for `rt`,
        // as a user's first call would.
        let want = vec![7u8; value_bytes()];
        let got = rt
            .block_on(rt.spawn(async move {
                cached_async_invalidate(1).await.expect("invalidate");
                cached_async(1).await
            }))
            .expect("fill task");
        assert_eq!(got, want);
        cached_sync_invalidate(1).expect("invalidate");
        assert_eq!(cached_sync(1), want);
        cached_sync_via_runtime_invalidate(1).expect("invalidate");
        assert_eq!(cached_sync_via_runtime(1), want);

        let (raw_key, entry_key) = raw_twin(&server);
        let caller = AsyncCaller {
            conn,
            raw_key: raw_key.as_str().into(),
        };
        Fixture {
            server,
            rt,
            side,
            side_conn,
            caller,
            raw_key,
            entry_key,
        }
    }

    /// `n` sequential calls of `op` in one spawned task of `rt` (where user code runs, not
    /// `block_on` on this thread); their total time.
    pub(crate) fn async_seq(&self, op: AsyncOp, n: u64) -> Duration {
        if op == AsyncOp::Cached {
            count_hits(n + 1);
        }
        let mut caller = self.caller.clone();
        self.rt
            .block_on(self.rt.spawn(async move {
                black_box(caller.call(op).await); // untimed, as in `SyncCaller::seq`
                let t = Instant::now();
                for _ in 0..n {
                    black_box(caller.call(op).await);
                }
                t.elapsed()
            }))
            .expect("bench task panicked")
    }

    /// `n` calls of `op` spread over [`CONCURRENCY`] tasks of `rt`; wall time.
    pub(crate) fn async_par(&self, op: AsyncOp, n: u64) -> Duration {
        if op == AsyncOp::Cached {
            count_hits(n);
        }
        self.rt.block_on(async {
            let t = Instant::now();
            let tasks: Vec<_> = (0..CONCURRENCY)
                .map(|i| {
                    let mut caller = self.caller.clone();
                    tokio::spawn(async move {
                        for _ in 0..share(n, i) {
                            black_box(caller.call(op).await);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("bench task panicked");
            }
            t.elapsed()
        })
    }

    /// A clone of the raw multiplexed connection (of `rt`).
    pub(crate) fn conn(&self) -> MultiplexedConnection {
        self.caller.conn.clone()
    }
}

/// Stores, next to the two cached entries, a raw value as long as theirs under a key as long as
/// the longer of theirs. Returns that key and the key of `cached_async(1)`'s entry.
fn raw_twin(server: &RedisServer) -> (String, String) {
    let mut keys = server.keys(&format!("{}:{{*", RedisCacheBuilder::DEFAULT_PREFIX));
    // Entries only: not the invalidation counts the fill's invalidations left beside them.
    keys.retain(|k| k.ends_with('}'));
    keys.sort();
    assert_eq!(keys.len(), 2, "two cached entries: {keys:?}");
    let mut sync = server.conn();
    let lens: Vec<usize> = keys
        .iter()
        .map(|k| {
            redis::cmd("STRLEN")
                .arg(k)
                .query(&mut sync)
                .expect("STRLEN")
        })
        .collect();
    assert_eq!(lens[0], lens[1], "equal entries: {keys:?}");
    let key_len = keys.iter().map(String::len).max().expect("two keys");
    let raw_key = format!("raw:{}", "k".repeat(key_len.saturating_sub(4)));
    let _: () = redis::cmd("SET")
        .arg(&raw_key)
        .arg(vec![7u8; lens[0]])
        .query(&mut sync)
        .expect("SET raw");
    eprintln!(
        "hits: redis-server on port {}; returned value {} bytes; entries {keys:?} of {} bytes; \
         raw key {} bytes holding {} bytes",
        server.port,
        value_bytes(),
        lens[0],
        raw_key.len(),
        lens[0]
    );
    let entry_key = keys
        .into_iter()
        .find(|k| k.contains("cached_async("))
        .expect("entry of cached_async");
    (raw_key, entry_key)
}
