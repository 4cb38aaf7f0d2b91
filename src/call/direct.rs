//! What the handle and the generated companions do besides a call: peek at an entry, prime
//! one, and compute one now whatever its freshness.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::freshness::Freshness;
use super::function::Function;
use super::holder::Holder;
use super::returns::Shape;
use super::store::run_and_store;
use super::{Job, degraded};
use crate::backend::Lease;
use crate::codec::{self, Stamp};
use crate::{Error, RedisCache, clock};

/// An entry as [`Function::get`] finds it: the value, how old it is, and whether a call would
/// refresh it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Cached<T> {
    /// The cached value.
    pub value: T,
    /// How long ago it was written, by the writer's clock.
    pub age: Duration,
    /// Fresh, or stale (older than `refresh`, or from before `expire_all`): a call would
    /// serve it and refresh it once.
    pub freshness: Freshness,
}

/// The entry of `f` for `args`, if a call would serve it.
pub(crate) async fn peek<T: DeserializeOwned>(
    cache: &RedisCache,
    f: &'static Function,
    args: Result<String, Error>,
) -> Result<Option<Cached<T>>, Error> {
    if !cache.is_enabled() {
        return Ok(None);
    }
    let inner = &cache.inner;
    let key = inner.key(f.name, args?);
    let backend = inner.backend()?;
    let gens = inner.generations(f, backend).await?;
    let Some(entry) = backend.get(&key).await? else {
        return Ok(None);
    };
    // Judged as a call judges it (`None`: from before the function's last `invalidate_all`).
    let now = clock::now_ms();
    Ok(match codec::decode::<T>(&entry) {
        Ok((stamp, value)) => super::fresh(stamp, f, gens, now).map(|freshness| Cached {
            value,
            age: Duration::from_millis(now.saturating_sub(stamp.written)),
            freshness,
        }),
        Err(_) => None,
    })
}

/// Stores `value` as the entry of `f` for `args`, fresh, and wakes whoever waits for it.
pub(crate) async fn prime<T: Serialize + DeserializeOwned>(
    cache: &RedisCache,
    f: &'static Function,
    args: Result<String, Error>,
    value: &T,
) -> Result<(), Error> {
    if !cache.is_enabled() {
        return Ok(());
    }
    let inner = &cache.inner;
    let key = inner.key(f.name, args?);
    let backend = inner.backend()?;
    let gens = inner.generations(f, backend).await?;
    let stamp = Stamp {
        written: clock::now_ms(),
        generation: gens.start(),
    };
    let entry = codec::encode(value, stamp).map_err(|e| Error::Value(e.to_string()))?;
    if entry.len() > inner.max_value_bytes {
        return Err(Error::Value(format!(
            "{} bytes encoded, more than max_value_bytes ({})",
            entry.len(),
            inner.max_value_bytes
        )));
    }
    // No lease token and no invalidation check: a value set by hand always lands.
    let stored = backend
        .store(&key, &entry, f.expire, "", "*")
        .await
        .map(drop);
    // Read your own writes: this process's copy in memory goes at once.
    super::local::forget(inner, &key);
    stored
}

/// Computes the entry of `f` for `args` now, whatever its freshness, stores it and returns it.
/// It takes the lease when free (so no refresh starts meanwhile) and computes either way.
pub(crate) async fn refresh_now<R, S, J>(
    cache: &RedisCache,
    f: &'static Function,
    args: Result<String, Error>,
    job: J,
) -> R
where
    R: Send + 'static,
    S: Shape<R>,
    J: Job<R>,
{
    let inner = &cache.inner;
    let (Ok(args), Ok(backend)) = (args, inner.backend()) else {
        return job.run().await;
    };
    let key = inner.key(f.name, args);
    if let Err(e) = inner.generations(f, backend).await {
        degraded(inner, f, &e);
        return job.run().await;
    }
    let mut holder = Holder::new(key, f.retry);
    match backend
        .try_lease(&holder.key, &holder.token, f.retry, None)
        .await
    {
        Ok((lease, version)) => {
            holder.leased = lease == Lease::Taken;
            holder.version = version;
        }
        Err(e) => {
            degraded(inner, f, &e);
            return job.run().await;
        }
    }
    let leader = inner.flights.lead_now(holder.key.value());
    let inner = Arc::clone(inner);
    match run_and_store::<R, S, J>(&inner, Some(backend), &holder, f, job, leader).await {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
