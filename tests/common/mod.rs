//! What the tests need that names `rediscache` types: a cache for a `testkit` deployment. The
//! deployments themselves, and everything else, are in the `testkit` crate.
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
        match self.target() {
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
        }
    }
}

/// A cache on `redis`, everything else default.
pub(crate) fn cache_on(redis: &dyn Topo) -> RedisCache {
    redis.builder().build().expect("valid configuration")
}
