//! What the expansion of an `async fn` calls.

use std::future::Future;

use crate::call::function::Function;
use crate::call::local::Copier;
use crate::call::returns::Shape;
use crate::call::{self, Job};
use crate::runtime;
use crate::{Error, RedisCache};

/// An async function's execution: a closure returning a `'static` future.
#[derive(Debug)]
pub struct AsyncJob<F>(pub F);

impl<F, Fut, R> Job<R> for AsyncJob<F>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    fn run(self) -> impl Future<Output = R> + Send {
        (self.0)()
    }

    fn spawn(task: impl Future<Output = ()> + Send + 'static) -> bool {
        runtime::spawn_here_or_background(task)
    }
}

/// Serves one call of a cached async function.
pub async fn call_async<R, S, F, Fut>(
    cache: &RedisCache,
    opts: &'static Function,
    args: Result<String, Error>,
    make: impl FnOnce() -> AsyncJob<F>,
    default: Option<impl FnOnce() -> R>,
    shape: (S, Copier<S::Value>),
) -> R
where
    R: Send + 'static,
    S: Shape<R>,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    call::call(cache, opts, args, make, default, shape).await
}

/// Removes the entry of `opts` for `args`.
///
/// # Errors
/// When Redis fails or the arguments give no key.
pub async fn invalidate_async(
    cache: &RedisCache,
    opts: &'static Function,
    args: Result<String, Error>,
) -> Result<(), Error> {
    call::invalidate(cache, opts, args).await
}

/// `NAME_refresh`: computes now, stores, returns.
pub async fn refresh_async<R, S, F, Fut>(
    cache: &RedisCache,
    opts: &'static Function,
    args: Result<String, Error>,
    make: impl FnOnce() -> AsyncJob<F>,
    _shape: S,
) -> R
where
    R: Send + 'static,
    S: Shape<R>,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let job = make();
    if !cache.is_enabled() {
        return job.run().await;
    }
    call::direct::refresh_now::<R, S, _>(cache, opts, args, job).await
}

/// `NAME_get`: the entry as a call would serve it.
///
/// # Errors
/// When Redis fails or the arguments give no key.
pub async fn peek_async<T: serde::de::DeserializeOwned>(
    cache: &RedisCache,
    opts: &'static Function,
    args: Result<String, Error>,
) -> Result<Option<crate::Cached<T>>, Error> {
    call::direct::peek(cache, opts, args).await
}

/// `NAME_set`: stores `value` as the entry for these arguments.
///
/// # Errors
/// When Redis fails, the arguments give no key or the value cannot be stored.
pub async fn prime_async<T: serde::Serialize + serde::de::DeserializeOwned>(
    cache: &RedisCache,
    opts: &'static Function,
    args: Result<String, Error>,
    value: &T,
) -> Result<(), Error> {
    call::direct::prime(cache, opts, args, value).await
}
