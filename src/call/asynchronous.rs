//! What the expansion of an `async fn` calls.

use std::future::Future;

use crate::call::function::Function;
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
    shape: S,
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
