//! One call of a cached sync function: its `GET` from the calling thread, on a blocking
//! connection of the cache while few threads read at once (`Backend::get_sync`,
//! src/backend/blocking.rs), so a hit need not hop to the crate's runtime and back.
//!
//! A fresh hit returns there; a stale one returns its value and schedules the one background
//! refresh, as any hit does. A miss, a failure of Redis or an entry that does not decode goes
//! on into the shared algorithm ([`proceed`](super::proceed)), driven on the calling thread in
//! the runtime's context as every sync call was before, with what the `GET` found: a miss
//! costs no second `GET`. Many threads at once, a cluster, a sentinel setup or
//! `sync_connections(0)` send the `GET` through the runtime's connection instead; the rest of
//! the call is the same.

use tokio::runtime::Handle;

use super::blocking::SyncJob;
use super::freshness::Freshness;
use super::function::Function;
use super::local::{Before, Copier};
use super::returns::Shape;
use super::{Found, Prepared};
use crate::runtime;
use crate::{Error, RedisCache};

/// Serves one call of a cached sync function of an enabled cache.
pub(super) fn call<R, S, F>(
    handle: &Handle,
    cache: &RedisCache,
    opts: &'static Function,
    args: Result<String, Error>,
    make: impl FnOnce() -> SyncJob<F>,
    default: Option<impl FnOnce() -> R>,
    copier: Copier<S::Value>,
) -> R
where
    R: Send + 'static,
    S: Shape<R>,
    F: FnOnce() -> R + Send + 'static,
{
    let inner = &cache.inner;
    let (key, backend) = match super::prepare(inner, opts, args) {
        Prepared::Ready(key, backend) => (key, backend),
        Prepared::NoKey => return (make().0)(),
        Prepared::NoBackend(key) => {
            let compute = super::compute_shared::<R, S, SyncJob<F>>(inner, None, &key, opts, make);
            return runtime::block_on(handle, compute);
        }
    };
    // From memory, but for the function's first call through this cache.
    let gens = match inner.generations.current(opts) {
        Some(gens) => gens,
        None => match runtime::block_on(handle, inner.generations(opts, backend)) {
            Ok(gens) => gens,
            Err(e) => {
                super::degraded(inner, opts, &e);
                let compute =
                    super::compute_shared::<R, S, SyncJob<F>>(inner, None, &key, opts, make);
                return runtime::block_on(handle, compute);
            }
        },
    };
    let ticket = match super::local::before::<S::Value>(inner, &key, opts, gens, copier) {
        Before::Hit(value, refresh) => {
            return super::serve_hit::<R, S, SyncJob<F>>(
                inner,
                (key, gens),
                opts,
                value,
                refresh,
                make,
            );
        }
        Before::Miss(ticket) => ticket,
    };
    let got = backend.get_sync(handle, &key);
    match super::read::<S::Value>(inner, got, (&key, opts, gens), ticket, copier) {
        Found::Hit(value, freshness) => {
            let refresh = freshness == Freshness::Stale;
            super::serve_hit::<R, S, SyncJob<F>>(inner, (key, gens), opts, value, refresh, make)
        }
        found => {
            let rest = super::proceed::<R, S, SyncJob<F>>(
                inner,
                backend,
                (key, gens),
                opts,
                found,
                make,
                default,
            );
            runtime::block_on(handle, rest)
        }
    }
}
