//! Run with: `cargo run --release --example local_latency` (needs `redis-server` on PATH, or
//! `REDISCACHE_TEST_SERVER` naming one; `LATENCY_WRITES` sets the number of writes, 2000 by
//! default).
//!
//! How long another process's write takes to reach a copy held in the local tier: from the
//! moment a writer process is about to store a new value to the moment this process, polling
//! its local copy, is served the new value instead. It starts a private `redis-server` on a
//! free loopback port, then itself again as the writer (`local_latency writer URL`), both on
//! loopback. For each write:
//!
//! 1. this process (the reader, its cache with `.local(Local::new())`) holds the current value
//!    in memory, its calls served from there;
//! 2. it tells the writer to go (a line on the writer's stdin);
//! 3. the writer reads its clock (`SystemTime`, nanoseconds) and stores that reading as the new
//!    value with `stamp_set`, a cache without the tier;
//! 4. the reader calls `stamp()` in a loop until it returns a new value; the delay is its own
//!    clock then minus the value (one machine, one clock): the writer's `SET`, Redis's
//!    invalidation push, the tier dropping its copy, and the one `GET` that refills it.
//!
//! It prints the delays' p50, p99 and max, and whether p99 is within the 2 ms that issue #12
//! sets on loopback, then the reader's tier counters.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rediscache::{Local, LocalState, RedisCache, cache};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The bound issue #12 sets on loopback, at p99.
const P99_BOUND: Duration = Duration::from_millis(2);

/// This process's cache: the reader's with the tier, the writer's without.
static CACHE: OnceLock<RedisCache> = OnceLock::new();

fn the_cache() -> &'static RedisCache {
    CACHE.get().expect("configured in main")
}

/// The value under test: a writer's clock reading, in ns since the Unix epoch (0 at first).
#[cache(cache = the_cache(), name = "latency::stamp", refresh = 600, expire = 1200, wait = true)]
fn stamp() -> u64 {
    0
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("writer") => writer(args.get(2).ok_or("writer URL")?),
        _ => reader(),
    }
}

/// The writer: one `stamp_set` per line on stdin, until `q` or the end of it.
fn writer(url: &str) -> Result<()> {
    let cache = RedisCache::builder()
        .url(url)
        .prefix("latency")
        .from_env(false)
        .build()?;
    let _ = CACHE.set(cache);
    // Opens the connections before the first timed write.
    stamp_get()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        if line? != "w" {
            break;
        }
        let t0 = now_ns();
        stamp_set(&t0)?;
    }
    Ok(())
}

fn reader() -> Result<()> {
    let writes: usize = std::env::var("LATENCY_WRITES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let server = Server::start()?;
    let cache = RedisCache::builder()
        .url(server.url())
        .prefix("latency")
        .from_env(false)
        .local(Local::new())
        .build()?;
    let _ = CACHE.set(cache);
    let cache = the_cache();

    // The first call misses and stores 0; once the tier is live, the next one fills it.
    assert_eq!(stamp(), 0);
    let started = Instant::now();
    while cache.local_status().map(|s| s.state) != Some(LocalState::Live) {
        if started.elapsed() > Duration::from_secs(10) {
            return Err(format!("the tier did not go live: {:?}", cache.local_status()).into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = cache.stats_blocking()?;

    let mut child = Command::new(std::env::current_exe()?)
        .args(["writer", &server.url()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut go = child.stdin.take().ok_or("writer stdin")?;
    let mut ready = String::new();
    BufReader::new(child.stdout.take().ok_or("writer stdout")?).read_line(&mut ready)?;
    if ready.trim() != "ready" {
        return Err(format!("the writer did not start: {ready:?}").into());
    }
    println!(
        "local_latency: redis-server on 127.0.0.1:{}, writer pid {}, {writes} writes",
        server.port,
        child.id()
    );

    let mut delays = Vec::with_capacity(writes);
    let mut current = stamp();
    for _ in 0..writes {
        // The current value is in memory: after a change, the first call refills the tier
        // from Redis and the next ones are served from it (a fill that raced the change's
        // report is dropped and the next call refills it once more).
        for _ in 0..4 {
            assert_eq!(stamp(), current, "no write in between");
        }
        writeln!(go, "w")?;
        go.flush()?;
        let asked = Instant::now();
        loop {
            let seen = stamp();
            if seen != current {
                let now = now_ns();
                delays.push(Duration::from_nanos(now.saturating_sub(seen)));
                current = seen;
                break;
            }
            if asked.elapsed() > Duration::from_secs(5) {
                return Err("a write did not arrive within 5 s".into());
            }
            // Spinning, but letting other threads of this core run.
            std::thread::yield_now();
        }
    }
    writeln!(go, "q")?;
    drop(go);
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("the writer failed: {status}").into());
    }

    delays.sort_unstable();
    let at = |p: f64| {
        delays[((p / 100.0 * delays.len() as f64).ceil() as usize).clamp(1, delays.len()) - 1]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p99 = at(99.0);
    println!(
        "local_latency: invalidation reaches the other process in p50 {:.3} ms, p99 {:.3} ms, \
         max {:.3} ms (min {:.3} ms) over {} writes",
        ms(at(50.0)),
        ms(p99),
        ms(at(100.0)),
        ms(delays[0]),
        delays.len()
    );
    println!(
        "local_latency: bound {} ms at p99: {}",
        ms(P99_BOUND),
        if p99 <= P99_BOUND { "met" } else { "NOT MET" }
    );
    let after = cache.stats_blocking()?;
    println!(
        "local_latency: reader's tier during the writes: {} hits from memory, {} fills, {} \
         discarded fills, {} invalidations, {} flushes; {} hits from Redis",
        after.local_hits - before.local_hits,
        after.local_fills - before.local_fills,
        after.local_discarded_fills - before.local_discarded_fills,
        after.local_invalidations - before.local_invalidations,
        after.local_flushes - before.local_flushes,
        (after.success - before.success) - (after.local_hits - before.local_hits),
    );
    Ok(())
}

/// A private `redis-server` on a free loopback port, stopped on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Result<Server> {
        let program =
            std::env::var("REDISCACHE_TEST_SERVER").unwrap_or_else(|_| "redis-server".into());
        for _ in 0..5 {
            // A port can be taken between this probe and the server's bind: try again.
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let child = Command::new(&program)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start {program}: {e}"))?;
            let mut server = Server { child, port };
            let client = redis::Client::open(server.url())?;
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                if server.child.try_wait()?.is_some() {
                    break;
                }
                let pong = client
                    .get_connection()
                    .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
                if pong.is_ok() {
                    return Ok(server);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = server.child.kill();
        }
        Err(format!("{program} did not start").into())
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
