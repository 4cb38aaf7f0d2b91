//! The caching algorithm, written once for sync and async functions.
//!
//! A hit (fresh or stale) costs the caller one `GET`. Everything else (leases, stores, waking
//! waiters) happens on misses and in background refreshes. Redis failures never reach the
//! caller: the function runs instead.

use std::any::Any;
use std::future::Future;
use std::hash::BuildHasher;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use tracing::Instrument;

use crate::__private::Options;
use crate::Error;
use crate::backend::{Backend, Lease};
use crate::breaker;
use crate::cache::{Inner, RedisCache};
use crate::codec;
use crate::flight::{Leader, Outcome, Role};
use crate::key::Key;
use crate::policy::{self, Freshness};
use crate::shape::Shape;
use crate::stats::Counter;

/// One execution of the cached function, owning what it needs.
pub trait Job<R>: Send + 'static {
    /// Runs the function on the caller's path.
    fn run(self) -> impl Future<Output = R> + Send;
    /// Runs `task` in the background the way this kind of function should: on the caller's
    /// runtime for async functions, on the crate's blocking pool for sync ones.
    fn spawn(task: impl Future<Output = ()> + Send + 'static) -> bool;
}

type Panic = Box<dyn Any + Send>;

/// A fresh token for a lease, unique enough that a process never mistakes another's lease
/// for its own.
fn token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let random = std::collections::hash_map::RandomState::new().hash_one((n, std::process::id()));
    format!("{:x}-{random:016x}", std::process::id())
}

/// Serves one call of a cached function.
pub(crate) async fn call<R, S, J>(
    cache: &RedisCache,
    opts: &'static Options,
    args: Result<String, Error>,
    make: impl FnOnce() -> J,
    default: Option<impl FnOnce() -> R>,
    _shape: S,
) -> R
where
    R: Send + 'static,
    S: Shape<R>,
    J: Job<R>,
{
    // Only a hit stays inline: the other paths are boxed, so the future every call builds (and
    // moves) is small.
    let inner = &cache.inner;
    if !cache.is_enabled() {
        return Box::pin(make().run()).await;
    }
    let key = match args.map(|args| inner.key(opts.name, args)) {
        Ok(key) => key,
        Err(e) => {
            tracing::warn!(function = opts.name, error = %e, "rediscache: arguments give no key; calling uncached");
            return Box::pin(make().run()).await;
        }
    };
    let backend = match inner.backend() {
        Ok(b) => b,
        Err(_) => return Box::pin(compute_shared::<R, S, J>(inner, None, &key, opts, make)).await,
    };
    match backend.get(&key).await {
        Ok(Some(entry)) => match codec::decode::<S::Value>(&entry) {
            Ok((written, value)) => {
                inner.count(opts, Counter::Success);
                if policy::freshness(written, policy::now_ms(), opts.refresh) == Freshness::Stale {
                    refresh_in_background::<R, S, J>(inner, key, opts, make);
                }
                return S::wrap(value);
            }
            Err(e) => {
                tracing::warn!(function = opts.name, key = key.value(), error = %e, "rediscache: unreadable entry; recomputing");
            }
        },
        Ok(None) => {}
        Err(e) => {
            degraded(inner, backend, opts, &e);
            return Box::pin(compute_shared::<R, S, J>(inner, None, &key, opts, make)).await;
        }
    }
    inner.count(opts, Counter::Missed);
    tracing::debug!(function = opts.name, key = key.value(), "rediscache: miss");
    if backend.writes_refused() {
        // Redis serves reads but refuses writes: no refresh could replace a default, so the
        // caller gets the real value (and its store tells whether writes work again).
        return Box::pin(compute_shared::<R, S, J>(
            inner,
            Some(backend),
            &key,
            opts,
            make,
        ))
        .await;
    }
    match default {
        Some(default) if !opts.wait => {
            inner.count(opts, Counter::Default);
            refresh_in_background::<R, S, J>(inner, key, opts, make);
            default()
        }
        _ => {
            Box::pin(compute_shared::<R, S, J>(
                inner,
                Some(backend),
                &key,
                opts,
                make,
            ))
            .await
        }
    }
}

/// Counts a call that Redis failed and that runs the function instead; logs it, at most once
/// every few seconds per cache with a count of the ones held back.
fn degraded(inner: &Inner, backend: &Backend, opts: &'static Options, e: &Error) {
    inner.count(opts, Counter::Errors);
    if let Some(held_back) = backend.degraded_log.ready(Duration::from_secs(5)) {
        tracing::warn!(
            function = opts.name,
            error = %e,
            similar_since_last = held_back,
            "rediscache: redis failed; calling the function instead"
        );
    }
}

/// Recomputes `key` off the caller's path, unless this process already does, or another
/// process holds the lease.
fn refresh_in_background<R, S, J>(
    inner: &Arc<Inner>,
    key: Key,
    opts: &'static Options,
    make: impl FnOnce() -> J,
) where
    R: Send + 'static,
    S: Shape<R>,
    J: Job<R>,
{
    let Some(leader) = inner.flights.lead(key.value(), opts.retry) else {
        return;
    };
    let job = make();
    let inner = inner.clone();
    J::spawn(async move {
        let Ok(backend) = inner.backend() else { return };
        let token = token();
        // Fresh if written after `now - refresh`: a refresh that landed since our read.
        let fresh_after = policy::now_ms().saturating_sub(policy::px(opts.refresh));
        match backend
            .try_lease(&key, &token, opts.retry, Some(fresh_after))
            .await
        {
            Ok(Lease::Taken) => {}
            Ok(Lease::Running | Lease::Failed | Lease::Fresh) => return,
            Err(e) => {
                // Nobody waits for this refresh; the next stale hit tries again.
                tracing::debug!(function = opts.name, error = %e, "rediscache: cannot take the lease; skipping refresh");
                return;
            }
        }
        // A panic is counted and logged in `run_and_store`; the background task ends quietly.
        let _ =
            run_and_store::<R, S, J>(&inner, Some(backend), &key, opts, job, leader, &token).await;
    });
}

/// The caller needs the real value: share one computation in this process, and across
/// processes wait for whoever holds the lease.
async fn compute_shared<R, S, J>(
    inner: &Arc<Inner>,
    backend: Option<&Backend>,
    key: &Key,
    opts: &'static Options,
    make: impl FnOnce() -> J,
) -> R
where
    R: Send + 'static,
    S: Shape<R>,
    J: Job<R>,
{
    let mut slept = false;
    let leader = loop {
        match inner.flights.join(key.value(), opts.retry) {
            Role::Leader(leader) => break leader,
            Role::Follower(flight) => {
                if !std::mem::replace(&mut slept, true) {
                    inner.count(opts, Counter::Sleep);
                }
                if let Some(Outcome::Done(entry)) = flight.wait(opts.retry).await {
                    if let Ok((_, value)) = codec::decode::<S::Value>(&entry) {
                        return S::wrap(value);
                    }
                }
                // The leader failed, panicked or outlived `retry`: try to lead ourselves.
            }
        }
    };
    let token = token();
    // Once Redis fails during this call, the rest of the call leaves it alone: a caller pays
    // at most one timeout, however many steps were left.
    let mut backend = backend;
    if let Some(b) = backend {
        let lease = match b.try_lease(key, &token, opts.retry, None).await {
            Ok(lease) => lease,
            Err(e) => {
                degraded(inner, b, opts, &e);
                backend = None;
                Lease::Taken
            }
        };
        // A lease left by a failed computation means no value is coming: compute at once.
        if lease == Lease::Running {
            if !slept {
                inner.count(opts, Counter::Sleep);
            }
            let wait =
                tracing::debug_span!("rediscache.wait", function = opts.name, key = key.value());
            match b.wait_landing(key, opts.retry).instrument(wait).await {
                Ok(Some(entry)) => {
                    if let Ok((_, value)) = codec::decode::<S::Value>(&entry) {
                        leader.finish(Outcome::Done(Arc::from(entry)));
                        return S::wrap(value);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    degraded(inner, b, opts, &e);
                    backend = None;
                }
            }
        }
    }
    if backend.is_some() {
        inner.count(opts, Counter::Wait);
    }
    let job = make();
    match run_and_store::<R, S, J>(inner, backend, key, opts, job, leader, &token).await {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Runs the function, stores an `Ok` value, and tells local followers and remote waiters.
async fn run_and_store<R, S, J>(
    inner: &Arc<Inner>,
    backend: Option<&Backend>,
    key: &Key,
    opts: &'static Options,
    job: J,
    leader: Leader,
    token: &str,
) -> Result<R, Panic>
where
    R: Send + 'static,
    S: Shape<R>,
    J: Job<R>,
{
    let Some(backend) = backend else {
        // Redis is not there: just compute; local followers still share the result.
        let r = AssertUnwindSafe(job.run()).catch_unwind().await?;
        if let Some(entry) = S::value(&r).and_then(|v| codec::encode(v, policy::now_ms()).ok()) {
            leader.finish(Outcome::Done(Arc::from(entry)));
        }
        return Ok(r);
    };
    inner.count(opts, Counter::Refresh);
    let started = std::time::Instant::now();
    let span = tracing::info_span!(
        "rediscache.recompute",
        function = opts.name,
        key = key.value()
    );
    let run = AssertUnwindSafe(job.run())
        .catch_unwind()
        .instrument(span)
        .await;
    crate::observe::recompute(opts, started.elapsed());
    let r = match run {
        Ok(r) => r,
        Err(panic) => {
            inner.count(opts, Counter::Failed);
            tracing::error!(
                function = opts.name,
                key = key.value(),
                "rediscache: the function panicked; nothing stored"
            );
            let _ = backend.fail(key, token).await;
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
        let _ = backend.fail(key, token).await;
        return Ok(r);
    };
    let written = policy::now_ms();
    let entry = match codec::encode(value, written) {
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
    match backend.store(key, &entry, opts.expire, token).await {
        Ok(()) => {
            tracing::debug!(function = opts.name, key = key.value(), elapsed = ?started.elapsed(), "rediscache: stored")
        }
        Err(e) => {
            degraded(inner, backend, opts, &e);
            if redis_was_away(&e) {
                let until = started + opts.retry;
                store_later(inner, key, entry.clone(), opts, token, written, until);
            }
        }
    }
    leader.finish(Outcome::Done(entry));
    Ok(r)
}

/// Whether a write failed because Redis could not be reached (a timeout, a dropped or refused
/// connection, the circuit open), so the same write may work later.
fn redis_was_away(e: &Error) -> bool {
    breaker::is_outage(e) || matches!(e, Error::Unavailable(_))
}

/// First pause before storing again an entry that Redis did not take; it doubles up to
/// [`STORE_RETRY_MAX`].
const STORE_RETRY_FIRST: Duration = Duration::from_millis(100);
const STORE_RETRY_MAX: Duration = Duration::from_secs(1);

/// Stores again, off every caller's path, an entry that Redis did not take because it was
/// unreachable for a moment (a timeout, a dropped connection, the circuit open), until the
/// lease that covered its computation runs out (`until`): a value that took long to compute is
/// not lost to a blip, and waiters elsewhere still wake when it lands. Each attempt gives the
/// entry what is left of `expire` since it was `written`, so it never outlives `expire`, and
/// never replaces a newer entry ([`crate::script::STORE_LATE`]). It gives up when this cache
/// invalidates anything meanwhile (it could bring the entry back) or is dropped.
fn store_later(
    inner: &Arc<Inner>,
    key: &Key,
    entry: Arc<[u8]>,
    opts: &'static Options,
    token: &str,
    written: u64,
    until: std::time::Instant,
) {
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
    let (cache, key, token) = (Arc::downgrade(inner), key.clone(), token.to_owned());
    crate::background::spawn(async move {
        let _place = place;
        let mut pause = STORE_RETRY_FIRST;
        loop {
            tokio::time::sleep(pause).await;
            let Some(inner) = cache.upgrade() else { return };
            let Ok(backend) = inner.backend() else { return };
            let age = Duration::from_millis(policy::now_ms().saturating_sub(written));
            let left = opts.expire.saturating_sub(age);
            if std::time::Instant::now() >= until
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
            match backend.store_late(&key, &entry, left, &token).await {
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

/// Removes the entry of `name` for `args`.
pub(crate) async fn invalidate(
    cache: &RedisCache,
    name: &str,
    args: Result<String, Error>,
) -> Result<(), Error> {
    if !cache.is_enabled() {
        return Ok(());
    }
    let key = cache.inner.key(name, args?);
    cache.inner.backend()?.delete(&key).await
}
