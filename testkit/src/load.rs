//! Many concurrent callers checking every value and every call's latency, while a test breaks
//! the deployment underneath them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Calls `f` for keys `0..keys` from `tasks` tasks until `stop`, checking that every call returns
/// `expected(k)` within `bound`. Returns the number of calls and the slowest in ms. A task that
/// sees a wrong value or a slow call panics, which the `JoinHandle` of this future reports.
pub async fn under_load<F, Fut>(
    tasks: u64,
    keys: u64,
    stop: Arc<AtomicBool>,
    f: F,
    expected: fn(u64) -> u64,
    bound: Duration,
) -> (u64, u64)
where
    F: Fn(u64) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let calls = Arc::new(AtomicU64::new(0));
    let max_ms = Arc::new(AtomicU64::new(0));
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
