//! `RedisCacheBuilder`: configuration from code, validated without touching the network.

use std::time::Duration;

use crate::cache::RedisCache;
use crate::config::{self, Requested, Settings};
use crate::{Error, key};

/// Configures a [`RedisCache`]. Settings given here beat the environment
/// (`REDIS_URL`, `REDIS_SERVICE_HOST`, `REDIS_SERVICE_PORT`, `REDIS_SERVICE_DB`,
/// `REDIS_SERVICE_PASSWORD`), which beats the defaults (`localhost:6379`, db 0).
///
/// ```
/// use std::time::Duration;
/// use rediscache::RedisCache;
///
/// let cache = RedisCache::builder()
///     .host("127.0.0.1")
///     .port(6379)
///     .db(2)
///     .prefix("myapp")
///     .timeout(Duration::from_millis(200))
///     .build()?; // validates only; connects on first use
/// assert!(cache.is_enabled());
/// # Ok::<(), rediscache::Error>(())
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct RedisCacheBuilder {
    /// Where Redis is, as asked for; resolved by `build()` in `config.rs`.
    at: Requested,
    enabled: Option<bool>,
    prefix: Option<String>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    max_value_bytes: Option<usize>,
    sync_connections: Option<usize>,
    use_env: Option<bool>,
    #[cfg(feature = "local")]
    local: Option<crate::Local>,
}

impl std::fmt::Debug for RedisCacheBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("RedisCacheBuilder");
        d.field("url", &self.at.url.as_ref().map(|_| "<set>"));
        #[cfg(feature = "cluster")]
        d.field("cluster", &self.at.cluster.as_ref().map(Vec::len));
        #[cfg(feature = "sentinel")]
        d.field(
            "sentinel",
            &self
                .at
                .sentinel
                .as_ref()
                .map(|(nodes, master)| (nodes.len(), master)),
        );
        #[cfg(feature = "tls")]
        d.field("tls_ca_file", &self.at.tls_ca_file).field(
            "tls_client_cert",
            &self.at.tls_client.as_ref().map(|(cert, _)| cert),
        );
        d.field("host", &self.at.fields.host)
            .field("port", &self.at.fields.port)
            .field("db", &self.at.fields.db)
            .field("password", &self.at.fields.password.as_ref().map(|_| "***"))
            .field("enabled", &self.enabled)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("sync_connections", &self.sync_connections);
        #[cfg(feature = "local")]
        d.field("local", &self.local);
        d.finish_non_exhaustive()
    }
}

impl RedisCacheBuilder {
    /// Default bound on each Redis operation, and on each connection attempt.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rediscache::RedisCacheBuilder;
    ///
    /// assert_eq!(RedisCacheBuilder::DEFAULT_TIMEOUT, Duration::from_secs(1));
    /// ```
    pub const DEFAULT_TIMEOUT: Duration = config::DEFAULT_TIMEOUT;

    /// Default largest entry the cache stores.
    ///
    /// ```
    /// use rediscache::RedisCacheBuilder;
    ///
    /// assert_eq!(RedisCacheBuilder::DEFAULT_MAX_VALUE_BYTES, 8 << 20);
    /// ```
    pub const DEFAULT_MAX_VALUE_BYTES: usize = config::DEFAULT_MAX_VALUE_BYTES;

    /// Default key prefix.
    ///
    /// ```
    /// use rediscache::{RedisCache, RedisCacheBuilder};
    ///
    /// let cache = RedisCache::builder().build()?;
    /// assert_eq!(cache.prefix(), RedisCacheBuilder::DEFAULT_PREFIX);
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub const DEFAULT_PREFIX: &'static str = config::DEFAULT_PREFIX;

    /// Default number of blocking connections sync hits may use at once
    /// ([`sync_connections`](Self::sync_connections)).
    ///
    /// ```
    /// use rediscache::RedisCacheBuilder;
    ///
    /// assert_eq!(RedisCacheBuilder::DEFAULT_SYNC_CONNECTIONS, 4);
    /// ```
    pub const DEFAULT_SYNC_CONNECTIONS: usize = config::DEFAULT_SYNC_CONNECTIONS;

    /// Connects to this URL: `redis://[user:password@]host[:port][/db]`. Replaces every
    /// connection setting of the environment; `host`, `port`, `db` and `password` given here
    /// still override its parts.
    ///
    /// `rediss://` connects over TLS, with the `tls` feature; without it `build()` returns an
    /// [`Error::Config`] that names the feature.
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder()
    ///     .url("redis://app:secret@10.0.0.5:6380/3")
    ///     .build()?;
    /// // The password stays out of Debug output.
    /// assert_eq!(format!("{cache:?}").contains("secret"), false);
    /// assert!(format!("{cache:?}").contains("redis://app:***@10.0.0.5:6380/3"));
    /// // A malformed URL is an error from build(), not a panic or a failed call later.
    /// assert!(RedisCache::builder().url("http://nope").build().is_err());
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.at.url = Some(url.into());
        self
    }

    /// Uses a Redis Cluster, found through any of these nodes (`redis://[user:password@]host:port`
    /// each; the cluster tells the rest). All keys of one entry share a hash slot, so every
    /// feature works unchanged. Replaces `url`, `host`, `port` and the environment; `username`
    /// and `password` given here apply to every node. Needs the `cluster` feature (a default).
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder()
    ///     .cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000", "redis://10.0.0.3:7000"])
    ///     .build()?;
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    #[cfg(feature = "cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
    pub fn cluster<I, S>(mut self, nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.at.cluster = Some(nodes.into_iter().map(Into::into).collect());
        self
    }

    /// Uses the primary that Redis Sentinel names for `master`, asking these sentinels
    /// (`redis://[user:password@]host:port` each); after a failover the cache follows the new
    /// primary. `db`, `username` and `password` given here are those of the primary. Needs the
    /// `sentinel` feature (a default).
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder()
    ///     .sentinel(["redis://10.0.0.1:26379", "redis://10.0.0.2:26379", "redis://10.0.0.3:26379"], "mymaster")
    ///     .password("secret")
    ///     .build()?;
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    #[cfg(feature = "sentinel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sentinel")))]
    pub fn sentinel<I, S>(mut self, sentinels: I, master: impl Into<String>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.at.sentinel = Some((
            sentinels.into_iter().map(Into::into).collect(),
            master.into(),
        ));
        self
    }

    /// Trusts the certificate authority in this PEM file for `rediss://` connections, besides
    /// the system's roots (for servers with a private CA). Read by `build()`. Needs the `tls`
    /// feature (a default), as `rediss://` itself does.
    ///
    /// ```no_run
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder()
    ///     .url("rediss://redis.internal:6380/0")
    ///     .tls_ca_file("/etc/redis/ca.crt")
    ///     .tls_client_cert("/etc/redis/client.crt", "/etc/redis/client.key")
    ///     .build()?;
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.at.tls_ca_file = Some(path.into());
        self
    }

    /// Presents this client certificate and private key (PEM files) to servers that check
    /// clients (`tls-auth-clients yes`). Read by `build()`. Needs the `tls` feature (a default).
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// // The files are read by build(): a missing one is an error naming it.
    /// let missing = RedisCache::builder()
    ///     .url("rediss://redis.internal:6380/0")
    ///     .tls_client_cert("/nonexistent/client.crt", "/nonexistent/client.key")
    ///     .build();
    /// assert!(missing.is_err());
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_client_cert(
        mut self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.at.tls_client = Some((cert.into(), key.into()));
        self
    }

    /// The Redis host name or address.
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder().from_env(false).host("10.0.0.5").build()?;
    /// assert!(format!("{cache:?}").contains("redis://10.0.0.5:6379/0"));
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.at.fields.host = Some(host.into());
        self
    }

    /// The Redis port.
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder().from_env(false).port(6380).build()?;
    /// assert!(format!("{cache:?}").contains(":6380/0"));
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn port(mut self, port: u16) -> Self {
        self.at.fields.port = Some(port);
        self
    }

    /// The Redis database index.
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder().from_env(false).db(5).build()?;
    /// assert!(format!("{cache:?}").contains("redis://localhost:6379/5"));
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn db(mut self, db: i64) -> Self {
        self.at.fields.db = Some(db);
        self
    }

    /// The ACL user name (Redis 6+); without it, `password` authenticates the default user.
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder()
    ///     .from_env(false)
    ///     .username("cache-user")
    ///     .password("secret")
    ///     .build()?;
    /// assert!(format!("{cache:?}").contains("redis://cache-user:***@"));
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.at.fields.username = Some(username.into());
        self
    }

    /// The password. It never appears in `Debug` output or logs.
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder().from_env(false).password("secret").build()?;
    /// assert!(!format!("{cache:?}").contains("secret"));
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.at.fields.password = Some(password.into());
        self
    }

    /// `false` turns the cache off: every call goes straight to the function and no
    /// connection is ever opened, so connection settings are not even checked. Default `true`.
    ///
    /// ```
    /// use std::sync::LazyLock;
    /// use rediscache::{cache, RedisCache};
    ///
    /// // In tests: no Redis needed, even a bad URL is fine; every call runs the function.
    /// static CACHE: LazyLock<RedisCache> = LazyLock::new(|| {
    ///     RedisCache::builder().url("redis://unreachable.invalid").enabled(false).build().unwrap()
    /// });
    ///
    /// #[cache(cache = CACHE, refresh = 10, expire = 60)]
    /// fn double(x: u32) -> u32 {
    ///     x * 2
    /// }
    ///
    /// assert!(!CACHE.is_enabled());
    /// assert_eq!(double(21), 42);
    /// ```
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// The prefix of every key this cache writes (default `rediscache`); 1 to 64 characters,
    /// no braces. Caches with different prefixes share nothing, stats included.
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder().prefix("billing").build()?;
    /// assert_eq!(cache.prefix(), "billing");
    /// assert!(RedisCache::builder().prefix("no{braces}").build().is_err());
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The longest any caller waits for one Redis operation, connecting included
    /// (default 1 s). Past it the call runs the function itself.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder().timeout(Duration::from_millis(50)).build()?;
    /// assert!(RedisCache::builder().timeout(Duration::ZERO).build().is_err());
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The longest a connection attempt may take (default 1 s). Connections are opened and
    /// re-opened in the background; a caller still never waits longer than
    /// [`timeout`](Self::timeout) for any one operation.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder()
    ///     .timeout(Duration::from_millis(100))
    ///     .connect_timeout(Duration::from_secs(3))
    ///     .build()?;
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The largest encoded value stored (default 8 MiB); larger values are returned to the
    /// caller but not stored, and a warning is logged.
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder().max_value_bytes(64 * 1024).build()?;
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = Some(bytes);
        self
    }

    /// How many blocking connections the hits of sync functions may use at once (default 4, at
    /// most 1024), on a single server (TLS or not). A sync call that finds one free sends its
    /// `GET` on it from the calling thread, so a hit costs what a blocking `GET` costs. When all
    /// are busy, the call goes through the crate's runtime instead, whose one pipelined
    /// connection carries many callers at once: a few threads get the latency of blocking
    /// connections, many keep the throughput of pipelining, and the number of connections stays
    /// bounded whatever the number of threads. `0`: every sync call goes through the runtime.
    /// A cluster or a sentinel setup always does.
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// // Short of connections on the server: no blocking connections for sync hits.
    /// let cache = RedisCache::builder().sync_connections(0).build()?;
    /// assert!(RedisCache::builder().sync_connections(5000).build().is_err());
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn sync_connections(mut self, connections: usize) -> Self {
        self.sync_connections = Some(connections);
        self
    }

    /// Serves hits from this process's memory too, kept true by Redis's own invalidations
    /// (off unless asked for; see [`Local`](crate::Local) and the README's "Local tier").
    /// A function opts out with `#[cache(local = false)]` or
    /// [`Function::local(false)`](crate::Function::local).
    ///
    /// ```
    /// use rediscache::{Local, RedisCache};
    ///
    /// let cache = RedisCache::builder()
    ///     .local(Local::new().max_bytes(64 << 20))
    ///     .build()?;
    /// assert!(RedisCache::builder().local(Local::new().max_bytes(0)).build().is_err());
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    #[cfg(feature = "local")]
    #[cfg_attr(docsrs, doc(cfg(feature = "local")))]
    pub fn local(mut self, local: crate::Local) -> Self {
        self.local = Some(local);
        self
    }

    /// Whether to read the `REDIS_*` environment variables (default `true`).
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// // Whatever REDIS_URL or REDIS_SERVICE_* say, this cache uses the defaults.
    /// let cache = RedisCache::builder().from_env(false).build()?;
    /// assert!(format!("{cache:?}").contains("redis://localhost:6379/0"));
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn from_env(mut self, read: bool) -> Self {
        self.use_env = Some(read);
        self
    }

    /// Validates the configuration and returns the cache. Never touches the network.
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder().url("redis://127.0.0.1:6379/0").build()?;
    /// let bad = RedisCache::builder().url("redis://127.0.0.1:port/0").build();
    /// assert!(matches!(bad, Err(rediscache::Error::Config { .. })));
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting or environment variable that is malformed.
    pub fn build(self) -> Result<RedisCache, Error> {
        self.build_with_env(&|name| std::env::var(name).ok())
    }

    pub(crate) fn build_with_env(
        self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<RedisCache, Error> {
        let prefix = self
            .prefix
            .unwrap_or_else(|| config::DEFAULT_PREFIX.to_owned());
        key::check_prefix(&prefix)?;
        let timeout = self.timeout.unwrap_or(config::DEFAULT_TIMEOUT);
        let connect_timeout = self.connect_timeout.unwrap_or(config::DEFAULT_TIMEOUT);
        for (name, t) in [("timeout", timeout), ("connect_timeout", connect_timeout)] {
            if t.is_zero() {
                return Err(Error::config(name, "must be longer than zero"));
            }
        }
        let sync_connections = self
            .sync_connections
            .unwrap_or(config::DEFAULT_SYNC_CONNECTIONS);
        if sync_connections > config::MAX_SYNC_CONNECTIONS {
            return Err(Error::config("sync_connections", "must be at most 1024"));
        }
        let settings = Settings {
            prefix,
            certs: self.at.certs()?,
            timeout,
            connect_timeout,
            max_value_bytes: self
                .max_value_bytes
                .unwrap_or(config::DEFAULT_MAX_VALUE_BYTES),
            sync_connections,
            #[cfg(feature = "local")]
            local: match self.local {
                Some(local) => {
                    local.check()?;
                    Some(local)
                }
                None => None,
            },
        };
        if !self.enabled.unwrap_or(true) {
            return Ok(RedisCache::from_parts(None, settings));
        }
        let env = self.use_env.unwrap_or(true).then_some(env);
        let topology = self.at.topology(env)?;
        Ok(RedisCache::from_parts(Some(topology), settings))
    }
}
