//! Soak: 64 concurrent tasks over 200 keys while Redis is paused, killed and restarted, and
//! flushed at random every second. Every call must return a correct value for its arguments
//! within a bound. About 20 s; set `REDISCACHE_SOAK_SECS` for a longer run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rediscache::{RedisCache, cache};
use testkit::*;

const TIMEOUT: Duration = Duration::from_millis(250);
const RETRY: Duration = Duration::from_secs(1);
/// The worst a call may cost: a timed-out read, a timed-out subscribe, then a wait of `retry`
/// for a lease left by a computation whose store a fault swallowed; plus slack for a shared
/// 2-core machine.
const BOUND: Duration = Duration::from_millis(2 * 250 + 1000 + 2000);

static CACHE: Slot<RedisCache> = Slot::new();

fn correct(k: u32) -> u64 {
    u64::from(k) * 7919 + 1
}

#[cache(cache = CACHE, refresh = "2s", retry = "1s", expire = "10s", wait = true)]
async fn exact(k: u32) -> u64 {
    tokio::time::sleep(Duration::from_millis(2)).await;
    correct(k)
}

#[cache(cache = CACHE, refresh = "2s", retry = "1s", expire = "10s", default = 0)]
async fn or_default(k: u32) -> u64 {
    tokio::time::sleep(Duration::from_millis(2)).await;
    correct(k)
}

/// A small deterministic generator, so a failing run can be replayed from its printed seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_under_random_faults() {
    assert_eq!(
        RETRY,
        Duration::from_secs(1),
        "matches the functions' retry"
    );
    let secs: u64 = std::env::var("REDISCACHE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("REDISCACHE_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(std::process::id()) ^ 0x9e37_79b9);
    println!("soak: {secs} s, seed {seed}");
    let server = RedisServer::start();
    CACHE.set(
        RedisCache::builder()
            .url(server.url())
            .timeout(TIMEOUT)
            .build()
            .unwrap(),
    );
    let server = Arc::new(Mutex::new(server));

    let stop = Arc::new(AtomicBool::new(false));
    let faults = {
        let (server, stop) = (server.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = Lcg(seed);
            let mut log = Vec::new();
            // Stats live in Redis, which the faults wipe: collect them before each fault.
            let mut degraded = 0;
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1000));
                if let Ok(stats) = CACHE.take_stats_blocking() {
                    degraded += stats.errors;
                }
                let mut s = server.lock().unwrap();
                match rng.next(5) {
                    0 => {
                        let pause = Duration::from_millis(200 + rng.next(600));
                        s.pause();
                        std::thread::sleep(pause);
                        s.resume();
                        log.push(format!("pause {pause:?}"));
                    }
                    1 => {
                        s.kill();
                        std::thread::sleep(Duration::from_millis(rng.next(500)));
                        s.restart();
                        log.push("kill+restart".to_string());
                    }
                    2 => {
                        s.cli(&["FLUSHALL"]);
                        log.push("flushall".to_string());
                    }
                    3 => {
                        s.cli(&["SCRIPT", "FLUSH"]);
                        log.push("script flush".to_string());
                    }
                    _ => log.push("calm".to_string()),
                }
            }
            (log, degraded)
        })
    };

    let deadline = Instant::now() + Duration::from_secs(secs);
    let calls = Arc::new(AtomicU64::new(0));
    let defaults = Arc::new(AtomicU64::new(0));
    let max_ms = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..64u64)
        .map(|t| {
            let (calls, defaults, max_ms) = (calls.clone(), defaults.clone(), max_ms.clone());
            tokio::spawn(async move {
                let mut rng = Lcg(seed ^ (t + 1));
                while Instant::now() < deadline {
                    let k = u32::try_from(rng.next(200)).unwrap();
                    let started = Instant::now();
                    let (got, may_default) = if k % 2 == 0 {
                        (exact(k).await, false)
                    } else {
                        (or_default(k).await, true)
                    };
                    let took = started.elapsed();
                    max_ms.fetch_max(u64::try_from(took.as_millis()).unwrap(), Ordering::Relaxed);
                    assert!(
                        took < BOUND,
                        "key {k}: a call took {took:?} (bound {BOUND:?})"
                    );
                    if may_default && got == 0 {
                        defaults.fetch_add(1, Ordering::Relaxed);
                    } else {
                        assert_eq!(got, correct(k), "key {k}: wrong value");
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("no call failed its checks");
    }
    stop.store(true, Ordering::SeqCst);
    let (log, degraded) = faults.join().unwrap();

    // After the storm, the cache works again.
    let cache = &*CACHE;
    assert!(
        eventually_async(Duration::from_secs(30), || async {
            exact(1).await == correct(1) && cache.ping().await.is_ok()
        })
        .await
    );
    let degraded = degraded + cache.take_stats().await.map_or(0, |s| s.errors);
    println!(
        "soak: {} calls, {degraded} degraded (Redis failed, the function ran), {} defaults, max latency {} ms",
        calls.load(Ordering::Relaxed),
        defaults.load(Ordering::Relaxed),
        max_ms.load(Ordering::Relaxed),
    );
    println!("soak: faults: {}", log.join(", "));
    assert!(
        calls.load(Ordering::Relaxed) > 1000,
        "the soak made real progress"
    );
}
