//! The handle without the macro: what a [`Function`] does, through the same algorithm
//! `#[cache]` expands to, for keys or computations known only at run time.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::call::bounds::KeyArgs;
use crate::call::direct::{self, Cached};
use crate::call::local::Copier;
use crate::call::returns::{Fallible, Plain};
use crate::call::{self, asynchronous::AsyncJob, blocking::SyncJob};
use crate::{Error, Function, RedisCache, runtime};

/// The arguments of a call, as a tuple: each element goes into the key as the macro renders a
/// parameter, so `USER.get_or_compute(&cache, (tenant, id), ..)` and a
/// `#[cache(name = "app::user")] fn user(tenant: &str, id: u64)` share entries. One argument
/// is a one-element tuple, `(id,)`; none is `()`.
///
/// ```
/// use rediscache::Args;
///
/// assert_eq!(("acme", 7u64).key_args()?, (String::from("acme"), 7u8).key_args()?);
/// assert_ne!((7u64,).key_args()?, ("7",).key_args()?);
/// # Ok::<(), rediscache::Error>(())
/// ```
pub trait Args {
    /// The arguments as they appear in the key.
    ///
    /// # Errors
    /// [`Error::Key`] when an argument does not serialize.
    fn key_args(&self) -> Result<String, Error>;
}

macro_rules! tuple_args {
    ($($name:ident),*) => {
        impl<$($name: Serialize),*> Args for ($($name,)*) {
            #[allow(non_snake_case, reason = "the tuple's elements are bound by their type parameters' names")]
            fn key_args(&self) -> Result<String, Error> {
                let ($($name,)*) = self;
                KeyArgs::new()$(.arg($name))*.finish()
            }
        }
    };
}

impl Args for () {
    fn key_args(&self) -> Result<String, Error> {
        KeyArgs::new().finish()
    }
}
tuple_args!(A);
tuple_args!(A, B);
tuple_args!(A, B, C);
tuple_args!(A, B, C, D);
tuple_args!(A, B, C, D, E);
tuple_args!(A, B, C, D, E, F);
tuple_args!(A, B, C, D, E, F, G);
tuple_args!(A, B, C, D, E, F, G, H);

/// Runs `fut` to the end on the calling thread, inside the crate's runtime.
fn blocking<T>(fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let handle = runtime::handle().ok_or(Error::NoRuntime)?;
    runtime::block_on(handle, fut)
}

impl Function {
    /// The cached value for `args`, or `compute`'s: a hit is one `GET` (stale: served, and one
    /// refresh runs in the background, fleet-wide); a miss waits for the value, sharing one
    /// computation with every caller of the same key, in every process. A cache failure
    /// never fails the call: `compute` runs instead.
    ///
    /// `compute` owns what it needs (`move || async move { .. }`): a background refresh
    /// outlives the call.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use rediscache::{Function, RedisCache};
    ///
    /// static USER: Function = Function::new("app::user").refresh(Duration::from_secs(30));
    /// # async fn load(id: u64) -> String { id.to_string() }
    /// # async fn demo(cache: &RedisCache) {
    /// let id = 7;
    /// let user: String = USER.get_or_compute(cache, (id,), move || async move { load(id).await }).await;
    /// # }
    /// ```
    pub async fn get_or_compute<A, T, F, Fut>(
        &'static self,
        cache: &RedisCache,
        args: A,
        compute: F,
    ) -> T
    where
        A: Args,
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let none = None::<fn() -> T>;
        call::call(
            cache,
            self,
            args.key_args(),
            || AsyncJob(compute),
            none,
            (Plain, Copier::decode()),
        )
        .await
    }

    /// As [`get_or_compute`](Self::get_or_compute), but a miss with [`wait(false)`](Self::wait)
    /// returns `default()` at once while a background computation fills the cache.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static FEED: Function = Function::new("app::feed").wait(false);
    /// # async fn demo(cache: &RedisCache) {
    /// let feed: Vec<String> = FEED
    ///     .get_or_default(cache, ("home",), Vec::new, || async { vec!["news".to_string()] })
    ///     .await;
    /// # }
    /// ```
    pub async fn get_or_default<A, T, D, F, Fut>(
        &'static self,
        cache: &RedisCache,
        args: A,
        default: D,
        compute: F,
    ) -> T
    where
        A: Args,
        T: Serialize + DeserializeOwned + Send + 'static,
        D: FnOnce() -> T,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let make = || AsyncJob(compute);
        call::call(
            cache,
            self,
            args.key_args(),
            make,
            Some(default),
            (Plain, Copier::decode()),
        )
        .await
    }

    /// As [`get_or_compute`](Self::get_or_compute) for a computation that can fail: only `Ok`
    /// is stored; an `Err` goes to its caller, and the previous value keeps being served.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static PRICE: Function = Function::new("app::price");
    /// # async fn fetch(sku: &str) -> Result<u64, std::io::Error> { Ok(sku.len() as u64) }
    /// # async fn demo(cache: &RedisCache) -> Result<(), std::io::Error> {
    /// let sku = "A-1".to_string();
    /// let key = sku.clone();
    /// let price = PRICE.try_get_or_compute(cache, (&key,), move || async move { fetch(&sku).await }).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `compute`'s own error, never one of the cache.
    pub async fn try_get_or_compute<A, T, E, F, Fut>(
        &'static self,
        cache: &RedisCache,
        args: A,
        compute: F,
    ) -> Result<T, E>
    where
        A: Args,
        T: Serialize + DeserializeOwned + Send + 'static,
        E: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let none = None::<fn() -> Result<T, E>>;
        call::call(
            cache,
            self,
            args.key_args(),
            || AsyncJob(compute),
            none,
            (Fallible, Copier::decode()),
        )
        .await
    }

    /// [`get_or_compute`](Self::get_or_compute) for sync code; needs no runtime.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static REPORT: Function = Function::new("app::report");
    /// # fn demo(cache: &RedisCache) {
    /// let lines: Vec<String> = REPORT.get_or_compute_blocking(cache, ("2026-11",), || vec!["42".into()]);
    /// # }
    /// ```
    pub fn get_or_compute_blocking<A, T, F>(
        &'static self,
        cache: &RedisCache,
        args: A,
        compute: F,
    ) -> T
    where
        A: Args,
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let none = None::<fn() -> T>;
        call::blocking::call_sync(
            cache,
            self,
            args.key_args(),
            || SyncJob(compute),
            none,
            (Plain, Copier::decode()),
        )
    }

    /// [`get_or_default`](Self::get_or_default) for sync code; needs no runtime.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static FEED: Function = Function::new("app::feed").wait(false);
    /// # fn demo(cache: &RedisCache) {
    /// let feed: Vec<String> =
    ///     FEED.get_or_default_blocking(cache, ("home",), Vec::new, || vec!["news".to_string()]);
    /// # }
    /// ```
    pub fn get_or_default_blocking<A, T, D, F>(
        &'static self,
        cache: &RedisCache,
        args: A,
        default: D,
        compute: F,
    ) -> T
    where
        A: Args,
        T: Serialize + DeserializeOwned + Send + 'static,
        D: FnOnce() -> T,
        F: FnOnce() -> T + Send + 'static,
    {
        let make = || SyncJob(compute);
        call::blocking::call_sync(
            cache,
            self,
            args.key_args(),
            make,
            Some(default),
            (Plain, Copier::decode()),
        )
    }

    /// [`try_get_or_compute`](Self::try_get_or_compute) for sync code; needs no runtime.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static PARSE: Function = Function::new("app::parse");
    /// # fn demo(cache: &RedisCache) -> Result<(), std::num::ParseIntError> {
    /// let n: u64 = PARSE.try_get_or_compute_blocking(cache, ("42",), || "42".parse::<u64>())?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `compute`'s own error, never one of the cache.
    pub fn try_get_or_compute_blocking<A, T, E, F>(
        &'static self,
        cache: &RedisCache,
        args: A,
        compute: F,
    ) -> Result<T, E>
    where
        A: Args,
        T: Serialize + DeserializeOwned + Send + 'static,
        E: Send + 'static,
        F: FnOnce() -> Result<T, E> + Send + 'static,
    {
        let none = None::<fn() -> Result<T, E>>;
        call::blocking::call_sync(
            cache,
            self,
            args.key_args(),
            || SyncJob(compute),
            none,
            (Fallible, Copier::decode()),
        )
    }

    /// Computes the value for `args` now, whatever its freshness, stores it (waking whoever
    /// waits for it) and returns it. It takes the lease when it is free, and computes anyway
    /// when it is not. (Named `refresh_now` because [`refresh`](Self::refresh) sets the
    /// option; the generated companion is `NAME_refresh`.)
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static RATE: Function = Function::new("app::rate");
    /// # async fn demo(cache: &RedisCache) {
    /// // The source changed: recompute now rather than at the next stale hit.
    /// let rate: f64 = RATE.refresh_now(cache, ("EUR",), || async { 1.09 }).await;
    /// # }
    /// ```
    pub async fn refresh_now<A, T, F, Fut>(
        &'static self,
        cache: &RedisCache,
        args: A,
        compute: F,
    ) -> T
    where
        A: Args,
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let job = AsyncJob(compute);
        direct::refresh_now::<T, Plain, _>(cache, self, args.key_args(), job).await
    }

    /// [`refresh_now`](Self::refresh_now) for sync code; needs no runtime.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static RATE: Function = Function::new("app::rate");
    /// # fn demo(cache: &RedisCache) {
    /// let rate: f64 = RATE.refresh_now_blocking(cache, ("EUR",), || 1.09);
    /// # }
    /// ```
    pub fn refresh_now_blocking<A, T, F>(
        &'static self,
        cache: &RedisCache,
        args: A,
        compute: F,
    ) -> T
    where
        A: Args,
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let args = args.key_args();
        match runtime::handle() {
            Some(handle) if cache.is_enabled() => runtime::block_on(
                handle,
                direct::refresh_now::<T, Plain, _>(cache, self, args, SyncJob(compute)),
            ),
            _ => compute(),
        }
    }

    /// The entry for `args` as a call would serve it, with its age and freshness, or `None`
    /// (a miss, an entry from before [`invalidate_all`](Self::invalidate_all), or one that
    /// does not decode as `T`). Nothing is computed, counted or refreshed.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static RATE: Function = Function::new("app::rate");
    /// # async fn demo(cache: &RedisCache) -> Result<(), rediscache::Error> {
    /// match RATE.get::<f64>(cache, ("EUR",)).await? {
    ///     Some(hit) => println!("{} from {:?} ago", hit.value, hit.age),
    ///     None => println!("not cached"),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When Redis fails; [`Error::Disabled`] never: a disabled cache has nothing (`None`).
    pub async fn get<T: DeserializeOwned>(
        &'static self,
        cache: &RedisCache,
        args: impl Args,
    ) -> Result<Option<Cached<T>>, Error> {
        direct::peek(cache, self, args.key_args()).await
    }

    /// [`get`](Self::get) for sync code; needs no runtime.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static RATE: Function = Function::new("app::rate");
    /// # fn demo(cache: &RedisCache) -> Result<(), rediscache::Error> {
    /// let cached = RATE.get_blocking::<f64>(cache, ("EUR",))?.is_some();
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn get_blocking<T: DeserializeOwned>(
        &'static self,
        cache: &RedisCache,
        args: impl Args,
    ) -> Result<Option<Cached<T>>, Error> {
        blocking(direct::peek(cache, self, args.key_args()))
    }

    /// Stores `value` as the entry for `args`, fresh (priming the cache, or correcting it), and
    /// wakes whoever waits for it.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static RATE: Function = Function::new("app::rate");
    /// # async fn demo(cache: &RedisCache) -> Result<(), rediscache::Error> {
    /// RATE.set(cache, ("EUR",), &1.09f64).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When Redis fails; [`Error::Value`] when the value cannot be stored.
    pub async fn set<T: Serialize + DeserializeOwned>(
        &'static self,
        cache: &RedisCache,
        args: impl Args,
        value: &T,
    ) -> Result<(), Error> {
        direct::prime(cache, self, args.key_args(), value).await
    }

    /// [`set`](Self::set) for sync code; needs no runtime.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static RATE: Function = Function::new("app::rate");
    /// # fn demo(cache: &RedisCache) -> Result<(), rediscache::Error> {
    /// RATE.set_blocking(cache, ("EUR",), &1.09f64)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`set`](Self::set).
    pub fn set_blocking<T: Serialize + DeserializeOwned>(
        &'static self,
        cache: &RedisCache,
        args: impl Args,
        value: &T,
    ) -> Result<(), Error> {
        blocking(direct::prime(cache, self, args.key_args(), value))
    }

    /// Removes the entry for `args`. Once this returns `Ok`, no computation of it that started
    /// before, here or in another process, can store its value: the next call computes anew.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static USER: Function = Function::new("app::user");
    /// # async fn demo(cache: &RedisCache) -> Result<(), rediscache::Error> {
    /// USER.invalidate(cache, (7u64,)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When Redis fails or the arguments give no key.
    pub async fn invalidate(
        &'static self,
        cache: &RedisCache,
        args: impl Args,
    ) -> Result<(), Error> {
        call::invalidate(cache, self, args.key_args()).await
    }

    /// [`invalidate`](Self::invalidate) for sync code; needs no runtime.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static USER: Function = Function::new("app::user");
    /// # fn demo(cache: &RedisCache) -> Result<(), rediscache::Error> {
    /// USER.invalidate_blocking(cache, (7u64,))?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`invalidate`](Self::invalidate).
    pub fn invalidate_blocking(
        &'static self,
        cache: &RedisCache,
        args: impl Args,
    ) -> Result<(), Error> {
        if !cache.is_enabled() {
            return Ok(());
        }
        blocking(call::invalidate(cache, self, args.key_args()))
    }

    /// Makes every entry of this function a miss, in every process: the next call of each key
    /// computes anew, and no computation that started before can store a value any call
    /// serves. A process that missed the announcement (its connection was down) knows within
    /// a second.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static USER: Function = Function::new("app::user");
    /// # async fn demo(cache: &RedisCache) -> Result<(), rediscache::Error> {
    /// // After a bulk import:
    /// USER.invalidate_all(cache).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn invalidate_all(&'static self, cache: &RedisCache) -> Result<(), Error> {
        cache.invalidate_function(self.name).await
    }

    /// [`invalidate_all`](Self::invalidate_all) for sync code; needs no runtime.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static USER: Function = Function::new("app::user");
    /// # fn demo(cache: &RedisCache) -> Result<(), rediscache::Error> {
    /// USER.invalidate_all_blocking(cache)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`invalidate_all`](Self::invalidate_all).
    pub fn invalidate_all_blocking(&'static self, cache: &RedisCache) -> Result<(), Error> {
        cache.invalidate_function_blocking(self.name)
    }

    /// Makes every entry of this function stale, in every process: each is still served, and
    /// refreshed once, fleet-wide, at its next call.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static USER: Function = Function::new("app::user");
    /// # async fn demo(cache: &RedisCache) -> Result<(), rediscache::Error> {
    /// // After a deploy that changed how users render:
    /// USER.expire_all(cache).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn expire_all(&'static self, cache: &RedisCache) -> Result<(), Error> {
        cache.expire_function(self.name).await
    }

    /// [`expire_all`](Self::expire_all) for sync code; needs no runtime.
    ///
    /// ```no_run
    /// use rediscache::{Function, RedisCache};
    ///
    /// static USER: Function = Function::new("app::user");
    /// # fn demo(cache: &RedisCache) -> Result<(), rediscache::Error> {
    /// USER.expire_all_blocking(cache)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`expire_all`](Self::expire_all).
    pub fn expire_all_blocking(&'static self, cache: &RedisCache) -> Result<(), Error> {
        cache.expire_function_blocking(self.name)
    }
}

impl RedisCache {
    /// Makes every entry of the function named `name` (`module::path::function` by default) a
    /// miss, in every process: [`Function::invalidate_all`] by name, for an admin endpoint or
    /// a CLI. A disabled cache has nothing to do.
    ///
    /// ```no_run
    /// # async fn demo(cache: &rediscache::RedisCache) -> Result<(), rediscache::Error> {
    /// cache.invalidate_function("app::users::profile").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn invalidate_function(&self, name: &str) -> Result<(), Error> {
        if !self.is_enabled() {
            return Ok(());
        }
        self.inner.bump(name, true).await
    }

    /// [`invalidate_function`](Self::invalidate_function) for sync code; needs no runtime.
    ///
    /// ```no_run
    /// # fn demo(cache: &rediscache::RedisCache) -> Result<(), rediscache::Error> {
    /// cache.invalidate_function_blocking("app::users::profile")?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`invalidate_function`](Self::invalidate_function).
    pub fn invalidate_function_blocking(&self, name: &str) -> Result<(), Error> {
        if !self.is_enabled() {
            return Ok(());
        }
        blocking(self.inner.bump(name, true))
    }

    /// Makes every entry of the function named `name` stale, in every process:
    /// [`Function::expire_all`] by name.
    ///
    /// ```no_run
    /// # async fn demo(cache: &rediscache::RedisCache) -> Result<(), rediscache::Error> {
    /// cache.expire_function("app::users::profile").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn expire_function(&self, name: &str) -> Result<(), Error> {
        if !self.is_enabled() {
            return Ok(());
        }
        self.inner.bump(name, false).await
    }

    /// [`expire_function`](Self::expire_function) for sync code; needs no runtime.
    ///
    /// ```no_run
    /// # fn demo(cache: &rediscache::RedisCache) -> Result<(), rediscache::Error> {
    /// cache.expire_function_blocking("app::users::profile")?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`expire_function`](Self::expire_function).
    pub fn expire_function_blocking(&self, name: &str) -> Result<(), Error> {
        if !self.is_enabled() {
            return Ok(());
        }
        blocking(self.inner.bump(name, false))
    }
}
