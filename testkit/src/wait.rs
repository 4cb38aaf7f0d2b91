//! Bounded waiting: a condition that never comes fails the test instead of hanging it.

use std::time::{Duration, Instant};

/// A generous bound for anything that should happen "soon" on a shared 2-core machine.
pub const SOON: Duration = Duration::from_secs(10);

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

/// Fails the test instead of hanging it when `fut` takes longer than [`SOON`].
pub async fn soon<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(SOON, fut)
        .await
        .expect("did not finish in time")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventually_is_true_once_the_condition_holds_and_false_at_the_bound() {
        let mut polls = 0;
        assert!(eventually(SOON, || {
            polls += 1;
            polls == 3
        }));
        assert_eq!(polls, 3, "stops polling once it holds");
        let started = Instant::now();
        assert!(!eventually(Duration::from_millis(50), || false));
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn eventually_async_and_soon() {
        let mut polls = 0;
        assert!(
            eventually_async(SOON, || {
                polls += 1;
                let done = polls == 2;
                async move { done }
            })
            .await
        );
        assert!(!eventually_async(Duration::from_millis(30), || async { false }).await);
        assert_eq!(soon(async { 7 }).await, 7);
    }
}
