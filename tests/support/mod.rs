//! Test support: private `redis-server` processes on free ports, and bounded waiting.
#![allow(dead_code)]

pub mod cluster;
pub mod sentinel;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` owned by one test: free port, no persistence, killed and reaped on drop.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    log: PathBuf,
    /// From `--requirepass`, so helpers can still talk to it.
    password: Option<String>,
    /// Extra arguments, for restarts.
    extra: Vec<String>,
}

fn spawn_server(port: u16, log: &std::path::Path, extra: &[String]) -> Child {
    Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--logfile", log.to_str().expect("utf-8 temp path")])
        // Its own directory: a replica's full sync writes an RDB file there.
        .args([
            "--dir",
            log.parent()
                .and_then(|d| d.to_str())
                .expect("utf-8 temp dir"),
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server on PATH (scripts/test installs it)")
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{sig} failed");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("local addr")
        .port()
}

impl RedisServer {
    /// Starts a server and waits (bounded) until it answers `PING`.
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// Starts a server with extra `redis-server` arguments.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        let password = extra
            .iter()
            .position(|a| a == "--requirepass")
            .and_then(|i| extra.get(i + 1))
            .cloned();
        // A port can be taken between our probe and the server's bind: try a few.
        for _ in 0..5 {
            let port = free_port();
            let dir =
                std::env::temp_dir().join(format!("rediscache-test-{port}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let log = dir.join("redis.log");
            let child = spawn_server(port, &log, &extra);
            let mut server = RedisServer {
                child,
                port,
                log,
                password: password.clone(),
                extra: extra.clone(),
            };
            if server.wait_ready(Duration::from_secs(10)) {
                return server;
            }
            eprintln!(
                "redis-server on {port} did not come up; log:\n{}",
                server.log_text()
            );
        }
        panic!("could not start redis-server");
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        signal(&self.child, "STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        signal(&self.child, "CONT");
    }

    /// Kills the server with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a fresh, empty server on the same port (after [`kill`](Self::kill)).
    pub fn restart(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.child = spawn_server(self.port, &self.log, &self.extra);
            if self.wait_ready(Duration::from_secs(10)) {
                return;
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
            assert!(
                Instant::now() < deadline,
                "could not restart redis-server on {}:\n{}",
                self.port,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_ready(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if self.cli(&["PING"]).is_some_and(|out| out.trim() == "PONG") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// Runs `redis-cli` against this server; `None` if it failed.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(
                self.password
                    .iter()
                    .flat_map(|p| ["--no-auth-warning", "-a", p.as_str()]),
            )
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A direct connection for assertions about what is stored.
    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .expect("url")
            .get_connection()
            .expect("connects")
    }

    /// How many clients are subscribed to `channel`: a waiter is waiting once it is.
    pub fn subscribers(&self, channel: &str) -> i64 {
        let (_, n): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query(&mut self.conn())
            .expect("PUBSUB");
        n
    }

    /// Every key matching `pattern`, sorted.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut self.conn())
            .expect("KEYS");
        keys.sort();
        keys
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.log.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

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
    match std::env::var("REDISCACHE_TEST_TOPOLOGY").as_deref() {
        Ok("cluster") => Box::new(cluster::Cluster::start()),
        Ok("sentinel") => Box::new(sentinel::Sentinels::start()),
        Ok("single") | Err(_) => Box::new(RedisServer::start()),
        Ok(other) => {
            panic!("REDISCACHE_TEST_TOPOLOGY={other:?}: expected single, cluster or sentinel")
        }
    }
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
