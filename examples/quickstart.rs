//! Run with: `scripts/demo` (starts a private Redis), or
//! `REDIS_URL=redis://127.0.0.1:6379/0 cargo run --example quickstart`.
//!
//! A tour of rediscache's two clocks on a real Redis: the default on a miss, the value once it
//! lands, a stale value served while one background refresh runs, `wait = true` with many callers
//! sharing one computation, expiry, and the stats.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rediscache::{RedisCache, cache};

/// Configured by the environment (`REDIS_URL` or `REDIS_SERVICE_HOST`/`_PORT`/`_DB`/`_PASSWORD`).
static CACHE: LazyLock<RedisCache> = LazyLock::new(|| {
    RedisCache::builder()
        .prefix("quickstart")
        .build()
        .expect("a valid Redis configuration in the environment")
});

static EXECUTIONS: AtomicUsize = AtomicUsize::new(0);

/// A slow call: half a second of "remote API". Fresh for 2 s, gone after 6 s. On a miss the
/// caller gets the default (`-1.0`) at once while the value is computed in the background.
#[cache(cache = CACHE, refresh = 2, expire = 6, default = -1.0)]
async fn exchange_rate(currency: &str) -> f64 {
    let n = EXECUTIONS.fetch_add(1, Ordering::SeqCst) + 1;
    println!("      ... computing the rate of {currency} (execution #{n})");
    tokio::time::sleep(Duration::from_millis(500)).await;
    1.0 + n as f64 / 100.0
}

/// The same with `wait = true`: a miss waits for the real value, and every concurrent caller,
/// in this process or another, shares one computation.
#[cache(cache = CACHE, refresh = "2s", expire = "6s", wait = true)]
async fn report(month: &str) -> Vec<String> {
    let n = EXECUTIONS.fetch_add(1, Ordering::SeqCst) + 1;
    println!("      ... building the report of {month} (execution #{n})");
    tokio::time::sleep(Duration::from_millis(500)).await;
    vec![format!("{month}: 42 orders")]
}

async fn timed<T: std::fmt::Debug>(what: &str, call: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let value = call.await;
    println!("  {what:<44} -> {value:?} in {:.1?}", started.elapsed());
    value
}

async fn wait_until_cached(currency: &str) {
    for _ in 0..200 {
        if exchange_rate(currency).await >= 0.0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), rediscache::Error> {
    println!("rediscache quickstart on {:?}\n", *CACHE);
    CACHE.ping().await?;
    exchange_rate_invalidate("EUR").await?;
    report_invalidate("2026-11").await?;
    CACHE.take_stats().await?;

    println!("1. A miss returns the default at once; one background run fills the cache.");
    timed("exchange_rate(\"EUR\")   (miss)", exchange_rate("EUR")).await;
    wait_until_cached("EUR").await;
    timed("exchange_rate(\"EUR\")   (hit)", exchange_rate("EUR")).await;

    println!("\n2. After `refresh` (2 s) the stale value still comes back at once,");
    println!("   and one caller recomputes it in the background.");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    timed("exchange_rate(\"EUR\")   (stale hit)", exchange_rate("EUR")).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    timed("exchange_rate(\"EUR\")   (refreshed)", exchange_rate("EUR")).await;

    println!("\n3. `wait = true`: eight concurrent callers on a miss share one computation.");
    let started = Instant::now();
    let callers: Vec<_> = (0..8).map(|_| tokio::spawn(report("2026-11"))).collect();
    for caller in callers {
        let _ = caller.await;
    }
    println!(
        "  8 x report(\"2026-11\")                        -> all answered in {:.1?}",
        started.elapsed()
    );
    timed("report(\"2026-11\")       (hit)", report("2026-11")).await;

    println!("\n4. After `expire` (6 s) the value is gone from Redis: the next call misses.");
    tokio::time::sleep(Duration::from_millis(6100)).await;
    timed("report(\"2026-11\")       (miss, waits)", report("2026-11")).await;

    let stats = CACHE.stats().await?;
    println!("\n5. Stats, shared by every process on this Redis:\n  {stats:?}");
    println!(
        "  the functions ran {} times for {} calls (step 1 polled until the value landed)",
        EXECUTIONS.load(Ordering::SeqCst),
        stats.missed + stats.success
    );
    // At shutdown: finish the stores under way and add every count not yet flushed.
    CACHE.close().await?;
    Ok(())
}
