//! Test support: private `redis-server` processes on free ports, and bounded waiting.
#![allow(dead_code)]

pub mod cluster;
pub mod sentinel;
mod server;

pub use server::{RedisServer, free_port};

use std::process::Command;
use std::time::{Duration, Instant};

/// Waits until `cond` holds, polling, at most `limit`; returns whether it held. Tests assert on
/// the result, so a condition that never comes fails the test instead of hanging it.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// As [`eventually`], for async tests.
pub async fn eventually_async<F: std::future::Future<Output = bool>>(
    limit: Duration,
    mut cond: impl FnMut() -> F,
) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A generous bound for anything that should happen "soon" on a shared 2-core machine.
pub const SOON: Duration = Duration::from_secs(10);

/// What tests need of a Redis deployment, one server or a cluster, so one test can run on
/// either (see [`start_topology`]).
pub trait Topo {
    /// A cache builder pointed at it.
    fn builder(&self) -> rediscache::RedisCacheBuilder;
    /// Every key matching `pattern`, sorted.
    fn keys(&self, pattern: &str) -> Vec<String>;
    /// A direct connection to the node that holds `key`.
    fn conn_for(&self, key: &str) -> redis::Connection;
}

impl Topo for RedisServer {
    fn builder(&self) -> rediscache::RedisCacheBuilder {
        rediscache::RedisCache::builder().url(self.url())
    }
    fn keys(&self, pattern: &str) -> Vec<String> {
        RedisServer::keys(self, pattern)
    }
    fn conn_for(&self, _key: &str) -> redis::Connection {
        self.conn()
    }
}

#[cfg(feature = "cluster")]
impl Topo for cluster::Cluster {
    fn builder(&self) -> rediscache::RedisCacheBuilder {
        rediscache::RedisCache::builder().cluster(self.urls())
    }
    fn keys(&self, pattern: &str) -> Vec<String> {
        cluster::Cluster::keys(self, pattern)
    }
    fn conn_for(&self, key: &str) -> redis::Connection {
        let url = format!("redis://127.0.0.1:{}/", self.primary_for_key(key));
        redis::Client::open(url)
            .expect("url")
            .get_connection()
            .expect("connects")
    }
}

#[cfg(feature = "sentinel")]
impl Topo for sentinel::Sentinels {
    fn builder(&self) -> rediscache::RedisCacheBuilder {
        rediscache::RedisCache::builder().sentinel(self.urls(), sentinel::MASTER)
    }
    fn keys(&self, pattern: &str) -> Vec<String> {
        self.current_primary().keys(pattern)
    }
    fn conn_for(&self, _key: &str) -> redis::Connection {
        self.current_primary().conn()
    }
}

/// The deployment the semantics tests run on: one `redis-server`, or with
/// `REDISCACHE_TEST_TOPOLOGY=cluster` a Redis Cluster of 3 primaries and 3 replicas, or with
/// `REDISCACHE_TEST_TOPOLOGY=sentinel` a primary and a replica behind three sentinels.
pub fn start_topology() -> Box<dyn Topo> {
    show_warnings();
    match std::env::var("REDISCACHE_TEST_TOPOLOGY").as_deref() {
        #[cfg(feature = "cluster")]
        Ok("cluster") => Box::new(cluster::Cluster::start()),
        #[cfg(feature = "sentinel")]
        Ok("sentinel") => Box::new(sentinel::Sentinels::start()),
        Ok("single") | Err(_) => Box::new(RedisServer::start()),
        Ok(other) => {
            panic!(
                "REDISCACHE_TEST_TOPOLOGY={other:?}: expected single, cluster or sentinel \
                 (cluster and sentinel need the features of those names)"
            )
        }
    }
}

/// Sends the crate's warnings to the test's captured output, which a failing test prints: a
/// semantics test that fails because Redis stalled then says so.
pub fn show_warnings() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_test_writer()
        .try_init();
}

/// A cache on `redis`, everything else default.
pub fn cache_on(redis: &dyn Topo) -> rediscache::RedisCache {
    redis.builder().build().expect("valid configuration")
}

/// A counter of function executions, readable from tests.
pub struct Runs(std::sync::atomic::AtomicUsize);

impl Runs {
    pub const fn new() -> Runs {
        Runs(std::sync::atomic::AtomicUsize::new(0))
    }
    /// Counts one execution; returns its number, starting at 1.
    pub fn tick(&self) -> usize {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
    }
    pub fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Milliseconds a key has left to live (`-1`: no TTL, `-2`: no key).
pub fn pttl(redis: &dyn Topo, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query(&mut redis.conn_for(key))
        .expect("PTTL")
}

/// Keys of cache entries (not leases, not stats).
pub fn entries(redis: &dyn Topo) -> Vec<String> {
    redis
        .keys("*")
        .into_iter()
        .filter(|k| k.ends_with('}') && !k.contains(":stats:"))
        .collect()
}

/// A gate a cached function's body waits at until the test opens it.
pub struct Gate {
    open: std::sync::Mutex<bool>,
    cv: std::sync::Condvar,
}

impl Gate {
    pub const fn new() -> Gate {
        Gate {
            open: std::sync::Mutex::new(false),
            cv: std::sync::Condvar::new(),
        }
    }
    pub fn open(&self) {
        *self.open.lock().expect("gate") = true;
        self.cv.notify_all();
    }
    pub fn is_open(&self) -> bool {
        *self.open.lock().expect("gate")
    }
    /// Blocks the thread until the gate opens (bounded, so a broken test fails, not hangs).
    pub fn wait(&self) {
        let guard = self.open.lock().expect("gate");
        let (_guard, timeout) = self
            .cv
            .wait_timeout_while(guard, Duration::from_secs(60), |open| !*open)
            .expect("gate");
        assert!(!timeout.timed_out(), "gate never opened");
    }
    /// Waits without blocking the runtime (bounded as above).
    pub async fn wait_async(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.is_open() {
            assert!(Instant::now() < deadline, "gate never opened");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Fails the test instead of hanging it when `fut` takes longer than [`SOON`].
pub async fn soon<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(SOON, fut)
        .await
        .expect("did not finish in time")
}

/// Runs one `#[ignore]`d test of this test binary in a child process with `env`, and returns its
/// stdout. The child is another process for real: its own connections, flights and counters.
pub fn run_child(test: &str, env: &[(&str, String)]) -> String {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for var in [
        "REDIS_URL",
        "REDIS_SERVICE_HOST",
        "REDIS_SERVICE_PORT",
        "REDIS_SERVICE_DB",
        "REDIS_SERVICE_PASSWORD",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("child test runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child {test} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The value of `name=` on the child's `RESULT` line.
pub fn child_field<'a>(stdout: &'a str, name: &str) -> &'a str {
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no RESULT line in:\n{stdout}"));
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

/// A tokio runtime of either flavor, for tests that run one after another.
pub fn runtime(multi_thread: bool) -> tokio::runtime::Runtime {
    let mut builder = if multi_thread {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().expect("a tokio runtime")
}

/// Calls `f` for keys `0..keys` from `tasks` tasks until `stop`, checking that every call returns
/// `expected(k)` within `bound`. Returns the number of calls and the slowest in ms.
pub async fn under_load<F, Fut>(
    tasks: u64,
    keys: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    f: F,
    expected: fn(u64) -> u64,
    bound: Duration,
) -> (u64, u64)
where
    F: Fn(u64) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    use std::sync::atomic::{AtomicU64, Ordering};
    let calls = std::sync::Arc::new(AtomicU64::new(0));
    let max_ms = std::sync::Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (stop, calls, max_ms) = (stop.clone(), calls.clone(), max_ms.clone());
            tokio::spawn(async move {
                let mut k = t % keys;
                while !stop.load(Ordering::SeqCst) {
                    k = (k * 31 + 7) % keys;
                    let started = Instant::now();
                    assert_eq!(f(k).await, expected(k), "key {k}: wrong value");
                    let took = started.elapsed();
                    assert!(
                        took < bound,
                        "key {k}: a call took {took:?} (bound {bound:?})"
                    );
                    max_ms.fetch_max(
                        u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                        Ordering::Relaxed,
                    );
                    calls.fetch_add(1, Ordering::Relaxed);
                    // A degraded call can complete without ever waiting (the circuit is open,
                    // the function is instant), and a task that never yields starves the
                    // runtime's timers. Real callers do I/O between calls; so does this one.
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("every call checked out");
    }
    (
        calls.load(Ordering::Relaxed),
        max_ms.load(Ordering::Relaxed),
    )
}
