//! A deployment described without `rediscache` types ([`Topo`]), so one test runs on a single
//! server, a cluster or sentinels alike (see [`start_topology`]).

use crate::cluster::Cluster;
use crate::logs::show_warnings;
use crate::sentinel::{MASTER, Sentinels};
use crate::server::RedisServer;

/// How a client reaches a deployment: what a `RedisCacheBuilder` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One server, by its `redis://` URL (with its password if it has one).
    Single(String),
    /// A Redis Cluster, by the `redis://` URLs of its live nodes.
    Cluster(Vec<String>),
    /// A primary found through sentinels.
    Sentinel {
        /// The `redis://` URLs of the sentinels.
        sentinels: Vec<String>,
        /// The name they know the primary by.
        master: String,
    },
}

/// What tests need of a Redis deployment: how to reach it, and what it holds.
pub trait Topo {
    /// How a client reaches it.
    fn target(&self) -> Target;
    /// Every key matching `pattern`, sorted.
    fn keys(&self, pattern: &str) -> Vec<String>;
    /// A direct connection to the node that holds `key`.
    fn conn_for(&self, key: &str) -> redis::Connection;
}

impl Topo for RedisServer {
    fn target(&self) -> Target {
        Target::Single(self.url())
    }
    fn keys(&self, pattern: &str) -> Vec<String> {
        RedisServer::keys(self, pattern)
    }
    fn conn_for(&self, _key: &str) -> redis::Connection {
        self.conn()
    }
}

impl Topo for Cluster {
    fn target(&self) -> Target {
        Target::Cluster(self.urls())
    }
    fn keys(&self, pattern: &str) -> Vec<String> {
        Cluster::keys(self, pattern)
    }
    fn conn_for(&self, key: &str) -> redis::Connection {
        let url = format!("redis://127.0.0.1:{}/", self.primary_for_key(key));
        redis::Client::open(url)
            .expect("url")
            .get_connection()
            .expect("connects")
    }
}

impl Topo for Sentinels {
    fn target(&self) -> Target {
        Target::Sentinel {
            sentinels: self.urls(),
            master: MASTER.to_owned(),
        }
    }
    fn keys(&self, pattern: &str) -> Vec<String> {
        self.current_primary().keys(pattern)
    }
    fn conn_for(&self, _key: &str) -> redis::Connection {
        self.current_primary().conn()
    }
}

/// The deployment the semantics tests run on: one `redis-server`, or with
/// `REDISCACHE_TEST_TOPOLOGY=cluster` a Redis Cluster of 3 primaries and 3 replicas, or with
/// `REDISCACHE_TEST_TOPOLOGY=sentinel` a primary and a replica behind three sentinels. Also
/// [`show_warnings`].
pub fn start_topology() -> Box<dyn Topo> {
    show_warnings();
    match std::env::var("REDISCACHE_TEST_TOPOLOGY").as_deref() {
        Ok("cluster") => Box::new(Cluster::start()),
        Ok("sentinel") => Box::new(Sentinels::start()),
        Ok("single") | Err(_) => Box::new(RedisServer::start()),
        Ok(other) => {
            panic!("REDISCACHE_TEST_TOPOLOGY={other:?}: expected single, cluster or sentinel")
        }
    }
}

/// Milliseconds a key has left to live (`-1`: no TTL, `-2`: no key).
pub fn pttl(redis: &dyn Topo, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query(&mut redis.conn_for(key))
        .expect("PTTL")
}

/// Keys of cache entries (`PREFIX:{name(args)}`: not leases, counts or stats).
pub fn entries(redis: &dyn Topo) -> Vec<String> {
    redis
        .keys("*")
        .into_iter()
        .filter(|k| is_entry(k))
        .collect()
}

/// Whether `key` is a cache entry's value, `PREFIX:{TAG}`, as src/key.rs builds them: a `:`
/// right before the first `{` (a lease is `PREFIX:lease{TAG}`, a count `PREFIX:inv{TAG}`) and
/// not the stats of a cluster (`PREFIX:stats:{SHARD}`).
pub fn is_entry(key: &str) -> bool {
    match key.find('{') {
        Some(open) => {
            let head = &key[..open];
            head.ends_with(':') && !head.ends_with(":stats:") && key.ends_with('}')
        }
        None => false,
    }
}

/// The lease key of the entry whose value lives at `value`: `PREFIX:{TAG}` →
/// `PREFIX:lease{TAG}`, as src/key.rs builds it.
pub fn lease_of(value: &str) -> String {
    let open = value.find('{').expect("an entry key has a hash tag");
    format!("{}lease{}", &value[..open], &value[open..])
}
