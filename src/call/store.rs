//! The end of a computation: run the function, store an `Ok` value with one script that also
//! releases the lease and wakes waiters, and, when Redis was away for a moment, store it again
//! from the background until the lease runs out.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tracing::Instrument;

use super::flight::{Leader, Outcome};
use super::function::Function;
use super::holder::Holder;
use super::returns::Shape;
use super::{Job, degraded};
use crate::Error;
use crate::backend::Backend;
use crate::backend::breaker;
use crate::cache::Inner;
use crate::codec::{self, Stamp};
use crate::stats::Counter;
use crate::stats::observe;
use crate::{clock, runtime};

/// A panic caught from the function, to resume on the caller's thread.
pub(super) type Panic = Box<dyn Any + Send>;

/// Runs the function, stores an `Ok` value, and tells local followers and remote waiters.
pub(super) async fn run_and_store<R, S, J>(
    inner: &Arc<Inner>,
    backend: Option<&Backend>,
    holder: &Holder,
    opts: &'static Function,
    job: J,
    leader: Leader,
) -> Result<R, Panic>
where
    R: Send + 'static,
    S: Shape<R>,
    J: Job<R>,
{
    let Some(backend) = backend else {
        // Redis is not there: just compute; local followers still share the result.
        let r = AssertUnwindSafe(job.run()).catch_unwind().await?;
        let stamp = Stamp {
            written: clock::now_ms(),
            generation: 0,
        };
        if let Some(entry) = S::value(&r).and_then(|v| codec::encode(v, stamp).ok()) {
            leader.finish(Outcome::Done(Arc::from(entry)));
        }
        return Ok(r);
    };
    let (key, token) = (&holder.key, holder.token.as_str());
    // From here to the store, `close()` waits for this computation (bounded by the timeout).
    let _storing = backend.storing();
    inner.count(opts, Counter::Refresh);
    // The generation this computation starts under: an invalidate_all from now on wins.
    let generation = inner.generations.current(opts).map_or(0, |g| g.start());
    let started = std::time::Instant::now();
    let alive = holder.keep_alive(inner);
    let span = tracing::info_span!(
        "rediscache.recompute",
        function = opts.name,
        key = key.value()
    );
    let run = AssertUnwindSafe(job.run())
        .catch_unwind()
        .instrument(span)
        .await;
    drop(alive);
    observe::recompute(opts.name, started.elapsed());
    let r = match run {
        Ok(r) => r,
        Err(panic) => {
            inner.count(opts, Counter::Failed);
            tracing::error!(
                function = opts.name,
                key = key.value(),
                "rediscache: the function panicked; nothing stored"
            );
            let _ = backend.fail(key, token, holder.until).await;
            drop(leader);
            return Err(panic);
        }
    };
    let Some(value) = S::value(&r) else {
        inner.count(opts, Counter::Failed);
        tracing::warn!(
            function = opts.name,
            key = key.value(),
            "rediscache: the function failed; nothing stored"
        );
        let _ = backend.fail(key, token, holder.until).await;
        return Ok(r);
    };
    let written = clock::now_ms();
    let stamp = Stamp {
        written,
        generation,
    };
    let entry = match codec::encode(value, stamp) {
        Ok(entry) => entry,
        Err(e) => {
            tracing::error!(function = opts.name, error = %e, "rediscache: value does not serialize; nothing stored");
            let _ = backend.release(key, token).await;
            return Ok(r);
        }
    };
    if entry.len() > inner.max_value_bytes {
        tracing::warn!(
            function = opts.name,
            bytes = entry.len(),
            limit = inner.max_value_bytes,
            "rediscache: value larger than max_value_bytes; not stored"
        );
        let _ = backend.release(key, token).await;
        // Callers in this process still share the value.
        leader.finish(Outcome::Done(Arc::from(entry)));
        return Ok(r);
    }
    let entry: Arc<[u8]> = Arc::from(entry);
    let stored = backend
        .store(key, &entry, opts.expire, token, &holder.version)
        .await;
    // This process's next call reads what it just wrote, not a copy in memory that tracking
    // has yet to report as changed.
    super::local::forget(inner, key);
    match stored {
        Ok(true) => {
            tracing::debug!(function = opts.name, key = key.value(), elapsed = ?started.elapsed(), "rediscache: stored")
        }
        Ok(false) => {
            tracing::debug!(
                function = opts.name,
                key = key.value(),
                "rediscache: invalidated while it computed; not stored"
            );
            // Followers here may have come after the invalidation: they compute anew.
            drop(leader);
            return Ok(r);
        }
        Err(e) => {
            degraded(inner, opts, &e);
            if redis_was_away(&e) {
                store_later(inner, holder, entry.clone(), opts, written);
            }
        }
    }
    leader.finish(Outcome::Done(entry));
    Ok(r)
}

/// Whether a write failed because Redis could not be reached (a timeout, a dropped or refused
/// connection, the circuit open), so the same write may work later.
fn redis_was_away(e: &Error) -> bool {
    breaker::is_outage(e) || matches!(e, Error::CircuitOpen | Error::Interrupted)
}

/// First pause before storing again an entry that Redis did not take; it doubles up to
/// [`STORE_RETRY_MAX`].
const STORE_RETRY_FIRST: Duration = Duration::from_millis(100);
const STORE_RETRY_MAX: Duration = Duration::from_secs(1);

/// Stores again, off every caller's path, an entry that Redis did not take because it was
/// unreachable for a moment (a timeout, a dropped connection, the circuit open), until the
/// lease that covered its computation runs out (`holder.until`): a value that took long to
/// compute is not lost to a blip, and waiters elsewhere still wake when it lands. Each attempt
/// gives the entry what is left of `expire` since it was `written`, so it never outlives
/// `expire`, and never replaces a newer entry nor lands after an invalidation of the key
/// ([`STORE_LATE`](crate::backend::scripts::STORE_LATE)). It also gives up when this cache
/// invalidates anything meanwhile or is dropped.
fn store_later(
    inner: &Arc<Inner>,
    holder: &Holder,
    entry: Arc<[u8]>,
    opts: &'static Function,
    written: u64,
) {
    let (key, until) = (&holder.key, holder.until);
    let Ok(backend) = inner.backend() else { return };
    let Some(place) = backend.late_store() else {
        tracing::debug!(
            function = opts.name,
            key = key.value(),
            "rediscache: too many values wait for Redis; this one is not kept"
        );
        return;
    };
    let invalidations = backend.invalidations();
    let (cache, key, token, version) = (
        Arc::downgrade(inner),
        key.clone(),
        holder.token.clone(),
        holder.version.clone(),
    );
    runtime::spawn(async move {
        let _place = place;
        let mut pause = STORE_RETRY_FIRST;
        loop {
            tokio::time::sleep(pause).await;
            let Some(inner) = cache.upgrade() else { return };
            let Ok(backend) = inner.backend() else { return };
            let age = Duration::from_millis(clock::now_ms().saturating_sub(written));
            let left = opts.expire.saturating_sub(age);
            if tokio::time::Instant::now() >= until
                || left.is_zero()
                || backend.invalidations() != invalidations
            {
                tracing::debug!(
                    function = opts.name,
                    key = key.value(),
                    "rediscache: gave up storing a value Redis did not take"
                );
                return;
            }
            match backend
                .store_late(&key, &entry, left, &token, &version)
                .await
            {
                Ok(true) => {
                    tracing::info!(
                        function = opts.name,
                        key = key.value(),
                        "rediscache: stored a value once Redis answered again"
                    );
                    return;
                }
                Ok(false) => {
                    tracing::debug!(
                        function = opts.name,
                        key = key.value(),
                        "rediscache: a newer value is there; not stored again"
                    );
                    return;
                }
                Err(e) if redis_was_away(&e) => {
                    pause = (pause * 2).min(STORE_RETRY_MAX);
                }
                Err(_) => return,
            }
        }
    });
}
