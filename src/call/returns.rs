//! What part of a function's return value is cached: all of it, or the `Ok` of a `Result`.

use serde::{Serialize, de::DeserializeOwned};

/// How a return type `R` maps to the value stored in Redis.
pub trait Shape<R>: Copy + Send + Sync + 'static {
    /// The stored value.
    type Value: Serialize + DeserializeOwned + Send + 'static;
    /// The value to store, or `None` when `r` is a failure that must not be cached.
    fn value(r: &R) -> Option<&Self::Value>;
    /// The return value for a stored value.
    fn wrap(v: Self::Value) -> R;
}

/// Caches the whole return value (`Option::None` included).
#[derive(Debug, Clone, Copy)]
pub struct Plain;

/// Caches `Ok` values only; an `Err` is returned to its caller and never stored.
#[derive(Debug, Clone, Copy)]
pub struct Fallible;

impl<T: Serialize + DeserializeOwned + Send + 'static> Shape<T> for Plain {
    type Value = T;
    fn value(r: &T) -> Option<&T> {
        Some(r)
    }
    fn wrap(v: T) -> T {
        v
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static, E> Shape<Result<T, E>> for Fallible {
    type Value = T;
    fn value(r: &Result<T, E>) -> Option<&T> {
        r.as_ref().ok()
    }
    fn wrap(v: T) -> Result<T, E> {
        Ok(v)
    }
}
