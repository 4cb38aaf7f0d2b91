//! What the expansion of a sync `fn` calls. Needs no runtime from the caller: a hit's `GET` goes
//! out from the caller's thread on a blocking connection ([`sync_hit`]), and the
//! rest of the algorithm runs on the caller's thread inside the crate's background runtime
//! context.

use std::future::Future;

use crate::call::function::Function;
use crate::call::local::Copier;
use crate::call::returns::Shape;
use crate::call::{self, Job, sync_hit};
use crate::runtime;
use crate::{Error, RedisCache};

/// A sync function's execution: a closure owning its arguments.
#[derive(Debug)]
pub struct SyncJob<F>(pub F);

impl<F, R> Job<R> for SyncJob<F>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    async fn run(self) -> R {
        (self.0)()
    }

    fn spawn(task: impl Future<Output = ()> + Send + 'static) -> bool {
        runtime::spawn_blocking(move || {
            if let Some(handle) = runtime::handle() {
                runtime::block_on(handle, task);
            }
        })
    }
}

/// Serves one call of a cached sync function.
pub fn call_sync<R, S, F>(
    cache: &RedisCache,
    opts: &'static Function,
    args: Result<String, Error>,
    make: impl FnOnce() -> SyncJob<F>,
    default: Option<impl FnOnce() -> R>,
    (_, copier): (S, Copier<S::Value>),
) -> R
where
    R: Send + 'static,
    S: Shape<R>,
    F: FnOnce() -> R + Send + 'static,
{
    match runtime::handle() {
        Some(handle) if cache.is_enabled() => {
            sync_hit::call::<R, S, F>(handle, cache, opts, args, make, default, copier)
        }
        _ => (make().0)(),
    }
}

/// Removes the entry of `opts` for `args`, blocking.
///
/// # Errors
/// When Redis fails or the arguments give no key.
pub fn invalidate_sync(
    cache: &RedisCache,
    opts: &'static Function,
    args: Result<String, Error>,
) -> Result<(), Error> {
    match runtime::handle() {
        Some(handle) => runtime::block_on(handle, call::invalidate(cache, opts, args)),
        None if !cache.is_enabled() => Ok(()),
        None => Err(Error::NoRuntime),
    }
}

/// Runs `fut` on the calling thread inside the crate's runtime.
fn block<T>(fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let handle = runtime::handle().ok_or(Error::NoRuntime)?;
    runtime::block_on(handle, fut)
}

/// `NAME_refresh` of a sync function: computes now, stores, returns.
pub fn refresh_sync<R, S, F>(
    cache: &RedisCache,
    opts: &'static Function,
    args: Result<String, Error>,
    make: impl FnOnce() -> SyncJob<F>,
    _shape: S,
) -> R
where
    R: Send + 'static,
    S: Shape<R>,
    F: FnOnce() -> R + Send + 'static,
{
    match runtime::handle() {
        Some(handle) if cache.is_enabled() => runtime::block_on(
            handle,
            call::direct::refresh_now::<R, S, _>(cache, opts, args, make()),
        ),
        _ => (make().0)(),
    }
}

/// `NAME_get` of a sync function.
///
/// # Errors
/// When Redis fails or the arguments give no key.
pub fn peek_sync<T: serde::de::DeserializeOwned>(
    cache: &RedisCache,
    opts: &'static Function,
    args: Result<String, Error>,
) -> Result<Option<crate::Cached<T>>, Error> {
    if !cache.is_enabled() {
        return Ok(None);
    }
    block(call::direct::peek(cache, opts, args))
}

/// `NAME_set` of a sync function.
///
/// # Errors
/// When Redis fails, the arguments give no key or the value cannot be stored.
pub fn prime_sync<T: serde::Serialize + serde::de::DeserializeOwned>(
    cache: &RedisCache,
    opts: &'static Function,
    args: Result<String, Error>,
    value: &T,
) -> Result<(), Error> {
    if !cache.is_enabled() {
        return Ok(());
    }
    block(call::direct::prime(cache, opts, args, value))
}
