//! What the tests need that names `rediscache` types: a cache for a `testkit` deployment. The
//! deployments themselves, and everything else, are in the `testkit` crate.
//!
//! With `REDISCACHE_TEST_LOCAL=1`, every builder given here has the local tier on
//! (`.local(Local::new())`): the semantics suite runs that way too (`scripts/test`).
#![allow(dead_code)]

use rediscache::{RedisCache, RedisCacheBuilder};
use testkit::{Target, Topo};

/// `.builder()` on any deployment: a cache builder pointed at it.
pub(crate) trait Builder {
    /// A cache builder pointed at this deployment, everything else default.
    fn builder(&self) -> RedisCacheBuilder;
}

impl<T: Topo + ?Sized> Builder for T {
    fn builder(&self) -> RedisCacheBuilder {
        let builder = match self.target() {
            Target::Single(url) => RedisCache::builder().url(url),
            #[cfg(feature = "cluster")]
            Target::Cluster(nodes) => RedisCache::builder().cluster(nodes),
            #[cfg(feature = "sentinel")]
            Target::Sentinel { sentinels, master } => {
                RedisCache::builder().sentinel(sentinels, master)
            }
            #[allow(
                unreachable_patterns,
                reason = "reached when a topology's feature is off"
            )]
            other => panic!("{other:?} needs the cargo feature of that topology"),
        };
        with_local_if_asked(builder)
    }
}

/// Whether `REDISCACHE_TEST_LOCAL=1` asks for the local tier on every cache.
pub(crate) fn local_asked() -> bool {
    std::env::var("REDISCACHE_TEST_LOCAL").as_deref() == Ok("1")
}

/// `builder` with the local tier on if [`local_asked`].
fn with_local_if_asked(builder: RedisCacheBuilder) -> RedisCacheBuilder {
    if !local_asked() {
        return builder;
    }
    #[cfg(feature = "local")]
    {
        builder.local(rediscache::Local::new())
    }
    #[cfg(not(feature = "local"))]
    panic!("REDISCACHE_TEST_LOCAL=1 needs the cargo feature `local`")
}

/// A cache on `redis`, everything else default.
pub(crate) fn cache_on(redis: &dyn Topo) -> RedisCache {
    redis.builder().build().expect("valid configuration")
}
