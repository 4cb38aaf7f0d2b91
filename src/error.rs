//! The one error type of the crate.

use std::time::Duration;

/// What can go wrong when configuring the cache or asking Redis something directly.
///
/// A cached call never returns this: when Redis fails, the call runs the function itself.
/// `Error` comes back from [`RedisCacheBuilder::build`](crate::RedisCacheBuilder::build),
/// from stats reads, pings and `NAME_invalidate`, where a silent success would lose work.
///
/// Each variant's `Display` says everything, the Redis error's text included, and
/// [`source`](std::error::Error::source) returns nothing, so a report that prints the chain
/// does not print the Redis error twice.
///
/// ```
/// use rediscache::{Error, RedisCache};
///
/// let err = RedisCache::builder().url("http://example.com").build().unwrap_err();
/// assert!(matches!(err, Error::Config { .. }));
/// assert!(err.to_string().contains("url"));
///
/// // A disabled cache says so, in a variant a caller can match.
/// let off = RedisCache::builder().enabled(false).build()?;
/// assert!(matches!(off.ping_blocking(), Err(Error::Disabled)));
/// # Ok::<(), rediscache::Error>(())
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is malformed; `setting` names where it came from
    /// (a builder method or an environment variable such as `REDIS_SERVICE_PORT`).
    #[error("invalid {setting}: {reason}")]
    Config {
        /// The builder method or environment variable that held the value.
        setting: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Redis answered with an error or could not be reached.
    #[error("redis: {0}")]
    Redis(redis::RedisError),
    /// Redis did not answer within the configured timeout.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// The arguments of a call could not be turned into a key.
    #[error("cannot build a cache key: {0}")]
    Key(String),
    /// A value given to be stored cannot be: it does not serialize, or it is larger than
    /// [`max_value_bytes`](crate::RedisCacheBuilder::max_value_bytes).
    #[error("cannot store the value: {0}")]
    Value(String),
    /// The cache is turned off ([`enabled(false)`](crate::RedisCacheBuilder::enabled)).
    #[error("the cache is disabled")]
    Disabled,
    /// Redis failed recently and the circuit breaker holds operations back until a probe
    /// succeeds (see "When things go wrong" in the README).
    #[error("redis is unreachable; the circuit breaker is open")]
    CircuitOpen,
    /// The crate's background runtime could not start (the OS refused its threads).
    #[error("the cache's background runtime could not start")]
    NoRuntime,
    /// The cache could not set up its connections (the reason was logged when it tried).
    #[error("the cache could not set up its connections")]
    NoConnections,
    /// A background task of the cache ended before it answered (its runtime is shutting down).
    #[error("a background task of the cache ended before it answered")]
    Interrupted,
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Error {
        Error::Redis(e)
    }
}

impl Error {
    pub(crate) fn config(source: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            setting: source.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_error_is_displayed_once_and_not_repeated_as_a_source() {
        let e = Error::from(redis::RedisError::from((
            redis::ErrorKind::Io,
            "connection refused",
        )));
        assert!(e.to_string().contains("connection refused"), "{e}");
        assert!(std::error::Error::source(&e).is_none());
    }
}
