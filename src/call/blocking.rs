//! What the expansion of a sync `fn` calls. Needs no runtime from the caller: a hit's `GET` goes
//! out from the caller's thread on a blocking connection ([`sync_hit`]), and the
//! rest of the algorithm runs on the caller's thread inside the crate's background runtime
//! context.

use std::future::Future;

use crate::call::options::Options;
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
    opts: &'static Options,
    args: Result<String, Error>,
    make: impl FnOnce() -> SyncJob<F>,
    default: Option<impl FnOnce() -> R>,
    _shape: S,
) -> R
where
    R: Send + 'static,
    S: Shape<R>,
    F: FnOnce() -> R + Send + 'static,
{
    match runtime::handle() {
        Some(handle) if cache.is_enabled() => {
            sync_hit::call::<R, S, F>(handle, cache, opts, args, make, default)
        }
        _ => (make().0)(),
    }
}

/// Removes the entry of `name` for `args`, blocking.
///
/// # Errors
/// When Redis fails or the arguments give no key.
pub fn invalidate_sync(
    cache: &RedisCache,
    name: &str,
    args: Result<String, Error>,
) -> Result<(), Error> {
    match runtime::handle() {
        Some(handle) => runtime::block_on(handle, call::invalidate(cache, name, args)),
        None if !cache.is_enabled() => Ok(()),
        None => Err(Error::NoRuntime),
    }
}
