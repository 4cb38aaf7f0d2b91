//! The bounds a cached function's types must meet, as traits whose
//! `#[diagnostic::on_unimplemented]` messages are ours: the compiler then points at the user's
//! type and says what to derive or which option to use. The macro names them through
//! `__private`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::key::ArgsWriter;

/// A cached function's return value (or its `Ok` type) must travel through Redis.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: it must implement `serde::Serialize` and `serde::de::DeserializeOwned`",
    label = "this type is stored in Redis",
    note = "derive them with `#[derive(serde::Serialize, serde::Deserialize)]`"
)]
pub trait CacheValue {}
impl<T: Serialize + DeserializeOwned> CacheValue for T {}

/// Checks at compile time that `T` can be cached, pointing at the return type.
pub const fn assert_value<T: CacheValue + ?Sized>() {}

/// An argument that is part of the key must serialize.
#[diagnostic::on_unimplemented(
    message = "argument of type `{Self}` cannot be part of the cache key: it must implement `serde::Serialize`",
    label = "this argument goes into the key",
    note = "derive `serde::Serialize`, or leave it out of the key with `skip(name)`"
)]
pub trait KeyArg: Serialize {}
impl<T: Serialize + ?Sized> KeyArg for T {}

/// Renders the key arguments of a call before the call takes ownership of them.
#[derive(Debug, Default)]
pub struct KeyArgs(ArgsWriter);

impl KeyArgs {
    /// No arguments yet.
    pub fn new() -> KeyArgs {
        KeyArgs::default()
    }

    /// Appends one argument; the only place its `Serialize` bound is checked.
    pub fn arg<T: KeyArg + ?Sized>(mut self, arg: &T) -> KeyArgs {
        self.0.arg(arg);
        self
    }

    /// The rendered arguments.
    pub fn finish(self) -> Result<String, Error> {
        self.0.finish()
    }
}

/// The value returned on a miss when `default` is not given and `wait` is false.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `Default`, so a miss has nothing to return at once",
    label = "needs a default value",
    note = "give one with `#[cache(default = ...)]`, or make misses wait for the value with `wait = true`"
)]
pub trait DefaultValue {
    /// The default value.
    fn default_value() -> Self;
}
impl<T: Default> DefaultValue for T {
    fn default_value() -> Self {
        T::default()
    }
}

/// Owns a reference argument for a background recompute (`&str` gives a `String`, `&T` a
/// clone).
#[diagnostic::on_unimplemented(
    message = "argument of type `&{Self}` cannot be copied for a background recompute: `{Self}` must implement `Clone`",
    label = "a background recompute owns a copy of this argument",
    note = "derive `Clone`, or take the argument by value"
)]
pub trait OwnArg: ToOwned {}
impl<T: ToOwned + ?Sized> OwnArg for T {}

/// Owns a reference argument.
pub fn own<T: OwnArg + ?Sized>(r: &T) -> T::Owned {
    r.to_owned()
}

/// A method cached by `&self`: a background recompute owns a clone of the receiver.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cloned into a background refresh: a method cached by `&self` needs `{Self}: Clone + Send + Sync + 'static`",
    label = "a background refresh owns a clone of `self`",
    note = "derive `Clone` (shared state, such as a pool, behind an `Arc`), or take `self: Arc<Self>`"
)]
pub trait OwnSelf: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> OwnSelf for T {}

/// Clones the receiver of a method cached by `&self`.
pub fn own_self<T: OwnSelf>(r: &T) -> T {
    r.clone()
}

/// A method cached by `self: Arc<Self>`: a background recompute owns a clone of the `Arc`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be shared with a background refresh: a method cached by `self: Arc<Self>` needs `{Self}: Send + Sync + 'static`",
    label = "a background refresh owns a clone of this `Arc`",
    note = "keep what is not `Send + Sync` (an `Rc`, a `RefCell`) out of the type, or behind a `Mutex`"
)]
pub trait ShareSelf: Send + Sync + 'static {}
impl<T: Send + Sync + 'static + ?Sized> ShareSelf for T {}

/// Clones the receiver of a method cached by `self: Arc<Self>`.
pub fn share_self<T: ShareSelf + ?Sized>(r: &std::sync::Arc<T>) -> std::sync::Arc<T> {
    std::sync::Arc::clone(r)
}

/// An async function's job, its bounds checked here and nowhere else: the entry points get a
/// closure and a future that are `Send` by their types, so an argument that is not `Send` is
/// one error, the same for `NAME` and `NAME_refresh` (rustc shows it once), not one per entry
/// point. The future is boxed to hide its type: one allocation per computation, none on a hit.
pub fn async_job<F, Fut, R>(
    f: F,
) -> crate::call::asynchronous::AsyncJob<
    impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = R> + Send>> + Send + 'static,
>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = R> + Send + 'static,
{
    crate::call::asynchronous::AsyncJob(move || {
        let boxed: std::pin::Pin<Box<dyn std::future::Future<Output = R> + Send>> = Box::pin(f());
        boxed
    })
}

/// A sync function's job, its bounds checked here (see [`async_job`]).
pub fn sync_job<F, R>(f: F) -> crate::call::blocking::SyncJob<F>
where
    F: FnOnce() -> R + Send + 'static,
{
    crate::call::blocking::SyncJob(f)
}
