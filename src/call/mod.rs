//! One call of a cached function: the caching algorithm, written once for sync and async
//! functions.
//!
//! A hit (fresh or stale) costs the caller one `GET`. Everything else (leases, stores, waking
//! waiters) happens on misses and in background refreshes. Redis failures never reach the
//! caller: the function runs instead.
//!
//! - [`asynchronous`] and [`blocking`]: the entry points the macro's expansion calls;
//! - [`sync_hit`]: a sync call, its `GET` sent from the calling thread on a blocking connection;
//! - [`store`]: running the function and storing what it returned, now or once Redis is back;
//! - [`flight`]: callers of one key in this process share one computation;
//! - [`local`]: hits from the local tier's memory, and what a `GET` fills it with;
//! - [`freshness`]: fresh or stale, the one decision of a hit;
//! - [`options`], [`bounds`], [`returns`]: what the macro describes a function with.

pub(crate) mod asynchronous;
pub(crate) mod blocking;
pub(crate) mod bounds;
pub(crate) mod direct;
pub(crate) mod flight;
pub(crate) mod freshness;
pub(crate) mod function;
pub(crate) mod generations;
mod handoff;
mod holder;
pub(crate) mod local;
pub(crate) mod returns;
mod store;
pub(crate) mod sync_hit;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::Error;
use crate::backend::{Backend, Landing, Lease};
use crate::cache::{Inner, RedisCache};
use crate::clock;
use crate::codec::{self, Stamp};
use crate::key::Key;
use crate::local::Ticket;
use crate::stats::Counter;
use flight::{Outcome, Role};
use freshness::Freshness;
use function::Function;
use generations::Current;
use handoff::Handoff;
use holder::Holder;
use local::Copier;
use returns::Shape;
use store::run_and_store;

/// One execution of the cached function, owning what it needs.
pub(crate) trait Job<R>: Send + 'static {
    /// Runs the function on the caller's path.
    fn run(self) -> impl Future<Output = R> + Send;
    /// Runs `task` in the background the way this kind of function should: on the caller's
    /// runtime for async functions, on the crate's blocking pool for sync ones.
    fn spawn(task: impl Future<Output = ()> + Send + 'static) -> bool;
}

/// Serves one call of a cached function; `copier` makes a hit from memory's value.
pub(crate) async fn call<R, S, J>(
    cache: &RedisCache,
    opts: &'static Function,
    args: Result<String, Error>,
    make: impl FnOnce() -> J,
    default: Option<impl FnOnce() -> R>,
    (_shape, copier): (S, Copier<S::Value>),
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
    match prepare(inner, opts, args) {
        Prepared::Ready(key, backend) => {
            // From memory, but for the function's first call through this cache.
            let gens = match inner.generations.current(opts) {
                Some(gens) => gens,
                None => match inner.generations(opts, backend).await {
                    Ok(gens) => gens,
                    Err(e) => {
                        degraded(inner, opts, &e);
                        let compute = compute_shared::<R, S, J>(inner, None, &key, opts, make);
                        return Box::pin(compute).await;
                    }
                },
            };
            let ticket = match local::before::<S::Value>(inner, &key, opts, gens, copier) {
                local::Before::Hit(value, refresh) => {
                    return serve_hit::<R, S, J>(inner, (key, gens), opts, value, refresh, make);
                }
                local::Before::Miss(ticket) => ticket,
            };
            let keyed = (key, gens, ticket, copier);
            call_keyed::<R, S, J>(inner, backend, keyed, opts, make, default).await
        }
        Prepared::NoKey => Box::pin(make().run()).await,
        Prepared::NoBackend(key) => {
            Box::pin(compute_shared::<R, S, J>(inner, None, &key, opts, make)).await
        }
    }
}

/// Where an enabled cache's call stands before its `GET`.
pub(super) enum Prepared<'a> {
    /// The entry's key, and the connections to read it with.
    Ready(Key, &'a Backend),
    /// The arguments give no key (logged): the function runs uncached.
    NoKey,
    /// No connections could be set up: the call computes, sharing with this process only.
    NoBackend(Key),
}

/// The key of a call and the connections to read it with.
pub(super) fn prepare<'a>(
    inner: &'a Arc<Inner>,
    opts: &'static Function,
    args: Result<String, Error>,
) -> Prepared<'a> {
    let key = match args.map(|args| inner.key(opts.name, args)) {
        Ok(key) => key,
        Err(e) => {
            tracing::warn!(function = opts.name, error = %e, "rediscache: arguments give no key; calling uncached");
            return Prepared::NoKey;
        }
    };
    match inner.backend() {
        Ok(backend) => Prepared::Ready(key, backend),
        Err(_) => Prepared::NoBackend(key),
    }
}

/// The rest of a call once its key and connections are known: the `GET`, then a hit served
/// inline, or what [`proceed`] does.
async fn call_keyed<R, S, J>(
    inner: &Arc<Inner>,
    backend: &Backend,
    (key, gens, ticket, copier): (Key, Current, Option<Ticket>, Copier<S::Value>),
    opts: &'static Function,
    make: impl FnOnce() -> J,
    default: Option<impl FnOnce() -> R>,
) -> R
where
    R: Send + 'static,
    S: Shape<R>,
    J: Job<R>,
{
    let got = backend.get(&key).await;
    match read::<S::Value>(inner, got, (&key, opts, gens), ticket, copier) {
        Found::Hit(value, freshness) => {
            let refresh = freshness == Freshness::Stale;
            serve_hit::<R, S, J>(inner, (key, gens), opts, value, refresh, make)
        }
        found => {
            Box::pin(proceed::<R, S, J>(
                inner,
                backend,
                (key, gens),
                opts,
                found,
                make,
                default,
            ))
            .await
        }
    }
}

/// What the `GET` of a call found.
pub(super) enum Found<V> {
    /// A decoded entry, fresh or stale.
    Hit(V, Freshness),
    /// No entry, or one that does not decode (logged): the call goes on as a miss.
    Miss,
    /// Redis failed: the call runs the function without it.
    Failed(Error),
}

/// Decodes what the `GET` of `key` returned: an entry from before the function's last
/// `invalidate_all` is a miss, one from before its last `expire_all` is stale. With a `ticket`
/// (the local tier's, taken before the `GET`), a hit's entry is kept in memory.
pub(super) fn read<V: serde::de::DeserializeOwned>(
    inner: &Inner,
    got: Result<Option<Vec<u8>>, Error>,
    (key, opts, gens): (&Key, &'static Function, Current),
    ticket: Option<Ticket>,
    copier: Copier<V>,
) -> Found<V> {
    match got {
        Ok(Some(entry)) => match judge::<V>(&entry, key, opts, gens, clock::now_ms()) {
            Some((value, freshness, stamp)) => {
                if let Some(ticket) = ticket {
                    local::fill(inner, opts, key, (entry, stamp, &value), ticket, copier);
                }
                Found::Hit(value, freshness)
            }
            None => Found::Miss,
        },
        Ok(None) => Found::Miss,
        Err(e) => Found::Failed(e),
    }
}

/// Decodes an entry of `key`, from Redis or memory, at wall-clock `now`: its value, its
/// freshness and its header; `None` (logged) when it is from before the function's last
/// `invalidate_all` or does not decode.
pub(super) fn judge<V: serde::de::DeserializeOwned>(
    entry: &[u8],
    key: &Key,
    opts: &'static Function,
    gens: Current,
    now: u64,
) -> Option<(V, Freshness, Stamp)> {
    match codec::decode::<V>(entry) {
        Ok((stamp, value)) => match fresh(stamp, opts, gens, now) {
            Some(freshness) => Some((value, freshness, stamp)),
            None => {
                tracing::debug!(
                    function = opts.name,
                    key = key.value(),
                    "rediscache: entry from before invalidate_all; a miss"
                );
                None
            }
        },
        Err(e) => {
            tracing::warn!(function = opts.name, key = key.value(), error = %e, "rediscache: unreadable entry; recomputing");
            None
        }
    }
}

/// The freshness of an entry with header `stamp` at wall-clock `now`: stale when written
/// before the function's last `expire_all`; `None` (a miss) before its last `invalidate_all`.
pub(super) fn fresh(
    stamp: Stamp,
    opts: &'static Function,
    gens: Current,
    now: u64,
) -> Option<Freshness> {
    if stamp.generation < gens.hard {
        return None;
    }
    Some(if stamp.generation < gens.soft {
        Freshness::Stale
    } else {
        freshness::freshness(stamp.written, now, opts.refresh)
    })
}

/// Serves a hit: counts it and, with `refresh` (it is stale), schedules one refresh in the
/// background.
pub(super) fn serve_hit<R, S, J>(
    inner: &Arc<Inner>,
    (key, gens): (Key, Current),
    opts: &'static Function,
    value: S::Value,
    refresh: bool,
    make: impl FnOnce() -> J,
) -> R
where
    R: Send + 'static,
    S: Shape<R>,
    J: Job<R>,
{
    inner.count(opts, Counter::Success);
    if refresh {
        refresh_in_background::<R, S, J>(inner, key, opts, gens, make);
    }
    S::wrap(value)
}

/// Goes on from what the `GET` found: a hit is served; a miss returns the default while one
/// refresh runs, or computes (waiting for whoever computes elsewhere); a failure of Redis runs
/// the function without it.
pub(super) async fn proceed<R, S, J>(
    inner: &Arc<Inner>,
    backend: &Backend,
    (key, gens): (Key, Current),
    opts: &'static Function,
    found: Found<S::Value>,
    make: impl FnOnce() -> J,
    default: Option<impl FnOnce() -> R>,
) -> R
where
    R: Send + 'static,
    S: Shape<R>,
    J: Job<R>,
{
    match found {
        Found::Hit(value, freshness) => {
            let refresh = freshness == Freshness::Stale;
            return serve_hit::<R, S, J>(inner, (key, gens), opts, value, refresh, make);
        }
        Found::Miss => {}
        Found::Failed(e) => {
            degraded(inner, opts, &e);
            return compute_shared::<R, S, J>(inner, None, &key, opts, make).await;
        }
    }
    inner.count(opts, Counter::Missed);
    tracing::debug!(function = opts.name, key = key.value(), "rediscache: miss");
    if backend.writes_refused() {
        // Redis serves reads but refuses writes: no refresh could replace a default, so the
        // caller gets the real value (and its store tells whether writes work again).
        return compute_shared::<R, S, J>(inner, Some(backend), &key, opts, make).await;
    }
    match default {
        Some(default) if !opts.wait => {
            inner.count(opts, Counter::Default);
            refresh_in_background::<R, S, J>(inner, key, opts, gens, make);
            default()
        }
        _ => compute_shared::<R, S, J>(inner, Some(backend), &key, opts, make).await,
    }
}

/// Counts a call that Redis failed and that runs the function instead; logs it, at most once
/// every few seconds per cache with a count of the ones held back.
pub(super) fn degraded(inner: &Inner, opts: &'static Function, e: &Error) {
    inner.count(opts, Counter::Errors);
    if let Some(held_back) = inner.degraded_log.ready(Duration::from_secs(5)) {
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
    opts: &'static Function,
    gens: Current,
    make: impl FnOnce() -> J,
) where
    R: Send + 'static,
    S: Shape<R>,
    J: Job<R>,
{
    let Some(leader) = inner.flights.lead(key.value(), opts.retry) else {
        return;
    };
    let Ok(storing) = inner.backend().map(Backend::storing) else {
        return;
    };
    let job = make();
    let inner = inner.clone();
    J::spawn(async move {
        // `close()` waits for this refresh from the moment it is scheduled.
        let _storing = storing;
        let Ok(backend) = inner.backend() else { return };
        let mut holder = Holder::new(key, opts.retry);
        // Fresh if written after `now - refresh` under the current soft generation: a refresh
        // that landed since our read.
        let fresh = Stamp {
            written: clock::now_ms().saturating_sub(clock::px(opts.refresh)),
            generation: gens.soft,
        };
        match backend
            .try_lease(&holder.key, &holder.token, opts.retry, Some(fresh))
            .await
        {
            Ok((Lease::Taken, version)) => {
                holder.leased = true;
                holder.version = version;
            }
            Ok((Lease::Running | Lease::Failed | Lease::Fresh, _)) => return,
            Err(e) => {
                // Nobody waits for this refresh; the next stale hit tries again.
                tracing::debug!(function = opts.name, error = %e, "rediscache: cannot take the lease; skipping refresh");
                return;
            }
        }
        // A panic is counted and logged in `run_and_store`; the background task ends quietly.
        let _ = run_and_store::<R, S, J>(&inner, Some(backend), &holder, opts, job, leader).await;
    });
}

/// The caller needs the real value: share one computation in this process, and across
/// processes wait for whoever holds the lease.
async fn compute_shared<R, S, J>(
    inner: &Arc<Inner>,
    backend: Option<&Backend>,
    key: &Key,
    opts: &'static Function,
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
                    // `None`: computed before an invalidate_all that came meanwhile.
                    if let Some(value) = landed::<S::Value>(inner, opts, &entry) {
                        return S::wrap(value);
                    }
                }
                // The leader failed, panicked, outlived `retry` or was overtaken by an
                // invalidation: try to lead ourselves.
            }
        }
    };
    let mut holder = Holder::new(key.clone(), opts.retry);
    // Once Redis fails during this call, the rest of the call leaves it alone: a caller pays
    // at most one timeout, however many steps were left.
    let mut backend = backend;
    if let Some(b) = backend {
        match wait_for_holder(inner, b, &mut holder, opts, slept).await {
            Ok(Some(entry)) => {
                // `None`: from before an invalidation, or unreadable: compute.
                if let Some(value) = landed::<S::Value>(inner, opts, &entry) {
                    leader.finish(Outcome::Done(Arc::from(entry)));
                    return S::wrap(value);
                }
            }
            Ok(None) => {}
            Err(e) => {
                degraded(inner, opts, &e);
                backend = None;
            }
        }
    }
    if backend.is_some() {
        inner.count(opts, Counter::Wait);
    }
    let job = make();
    let until = holder.until;
    let (inner, with_redis) = (inner.clone(), backend.is_some());
    let computation = async move {
        let backend = if with_redis {
            inner.backend().ok()
        } else {
            None
        };
        run_and_store::<R, S, J>(&inner, backend, &holder, opts, job, leader).await
    };
    match Handoff::<_, R, J>::new(computation, until).await {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The value of an entry another computation just produced, unless it is from before the
/// function's last `invalidate_all` (or does not decode).
fn landed<V: serde::de::DeserializeOwned>(
    inner: &Inner,
    opts: &'static Function,
    entry: &[u8],
) -> Option<V> {
    let hard = inner.generations.current(opts).map_or(0, |g| g.hard);
    match codec::decode::<V>(entry) {
        Ok((stamp, value)) if stamp.generation >= hard => Some(value),
        _ => None,
    }
}

/// Takes the lease of `holder`'s key, or waits for whoever holds it in another process:
/// `Some(entry)` when their value landed; `None` when this caller computes, holding the lease
/// (`holder.leased`) or not (the last computation failed, or `retry` passed while waiting).
/// A holder that dies is noticed within a second or so (its lease is no longer renewed), and
/// the waiters then take the lease in its place, one of them computing.
async fn wait_for_holder(
    inner: &Inner,
    backend: &Backend,
    holder: &mut Holder,
    opts: &'static Function,
    mut slept: bool,
) -> Result<Option<Vec<u8>>, Error> {
    let key = &holder.key.clone();
    loop {
        let (lease, version) = backend
            .try_lease(key, &holder.token, opts.retry, None)
            .await?;
        holder.version = version;
        match lease {
            Lease::Taken => {
                holder.leased = true;
                return Ok(None);
            }
            // A lease left by a failed computation means no value is coming: compute at once.
            Lease::Failed | Lease::Fresh => return Ok(None),
            Lease::Running => {}
        }
        if !std::mem::replace(&mut slept, true) {
            inner.count(opts, Counter::Sleep);
        }
        let wait = tracing::debug_span!("rediscache.wait", function = opts.name, key = key.value());
        match backend
            .wait_landing(key, holder.until)
            .instrument(wait)
            .await?
        {
            Landing::Landed(entry) => return Ok(Some(entry)),
            Landing::Free if tokio::time::Instant::now() < holder.until => {}
            Landing::Free | Landing::Failed | Landing::TimedOut => return Ok(None),
        }
    }
}

/// Removes the entry of `f` for `args`; a computation of it that started before cannot store.
pub(crate) async fn invalidate(
    cache: &RedisCache,
    f: &'static Function,
    args: Result<String, Error>,
) -> Result<(), Error> {
    if !cache.is_enabled() {
        return Ok(());
    }
    let key = cache.inner.key(f.name, args?);
    let deleted = cache
        .inner
        .backend()?
        .delete(&key, f.invalidation_memory())
        .await;
    // Tracking reports the delete too; this process need not wait for it.
    local::forget(&cache.inner, &key);
    deleted
}
