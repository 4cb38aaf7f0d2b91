//! What a computation under the lease carries: the key, its token, the end of `retry`, and
//! the task that keeps the lease alive while the function runs (see `backend/lease.rs`).

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::backend::lease::RENEW_EVERY;
use crate::cache::Inner;
use crate::key::Key;
use crate::runtime;

/// A fresh token for a lease, unique enough that a process never mistakes another's lease
/// for its own.
fn token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let random = std::collections::hash_map::RandomState::new().hash_one((n, std::process::id()));
    format!("{:x}-{random:016x}", std::process::id())
}

/// One computation's claim on a key.
#[derive(Debug)]
pub(crate) struct Holder {
    pub(crate) key: Key,
    pub(crate) token: String,
    /// The end of `retry`: the lease is never renewed past it, and a computation nobody waits
    /// for any more is not run past it.
    pub(crate) until: Instant,
    /// Whether the lease was taken under `token` (a caller may compute without it: Redis
    /// failed, or the last computation failed, or it waited `retry` in vain).
    pub(crate) leased: bool,
    /// The key's invalidation count when the lease was asked for, which the store must find
    /// unchanged (`""`: unknown; the store is then refused after any invalidation).
    pub(crate) version: String,
}

impl Holder {
    /// A claim on `key` starting now, for `retry`.
    pub(crate) fn new(key: Key, retry: Duration) -> Holder {
        Holder {
            key,
            token: token(),
            until: Instant::now() + retry,
            leased: false,
            version: String::new(),
        }
    }

    /// Renews the lease from the crate's runtime (so a sync function's computation, which
    /// blocks its thread, is renewed too) until the guard drops or the lease is lost.
    pub(crate) fn keep_alive(&self, inner: &Arc<Inner>) -> Option<KeepAlive> {
        if !self.leased {
            return None;
        }
        let (cache, key, token, until) = (
            Arc::downgrade(inner),
            self.key.clone(),
            self.token.clone(),
            self.until,
        );
        runtime::spawn_abortable(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let Some(inner) = cache.upgrade() else { return };
                let Ok(backend) = inner.backend() else { return };
                match backend.renew(&key, &token, until).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    // A blip: the next tick tries again, within the lease's life.
                    Err(e) => {
                        tracing::debug!(key = key.value(), error = %e, "rediscache: lease renewal failed")
                    }
                }
            }
        })
        .map(KeepAlive)
    }
}

/// Stops renewing a lease when dropped: the computation ended, panicked or was dropped.
#[derive(Debug)]
pub(crate) struct KeepAlive(AbortHandle);

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.0.abort();
    }
}
