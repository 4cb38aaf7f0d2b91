//! The one error type of the crate.

/// What can go wrong when configuring the cache or asking Redis something directly.
///
/// A cached call never returns this: when Redis fails, the call runs the function itself.
/// `Error` comes back from [`RedisCacheBuilder::build`](crate::RedisCacheBuilder::build),
/// from stats reads and from `NAME_invalidate`, where a silent success would lose work.
///
/// ```
/// use rediscache::{Error, RedisCache};
///
/// let err = RedisCache::builder().url("http://example.com").build().unwrap_err();
/// assert!(matches!(err, Error::Config { .. }));
/// assert!(err.to_string().contains("url"));
/// ```
#[derive(Debug, thiserror::Error)]
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
    Redis(#[from] redis::RedisError),
    /// Redis did not answer within the configured timeout.
    #[error("redis did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The arguments of a call could not be turned into a key.
    #[error("cannot build a cache key: {0}")]
    Key(String),
    /// The cache is disabled, or its background runtime could not start.
    #[error("the cache is not available: {0}")]
    Unavailable(&'static str),
}

impl Error {
    pub(crate) fn config(source: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            setting: source.into(),
            reason: reason.into(),
        }
    }
}
