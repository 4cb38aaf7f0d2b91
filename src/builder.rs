//! `RedisCacheBuilder`: configuration from code, validated without touching the network.

use std::time::Duration;

use crate::cache::{RedisCache, Settings};
use crate::config::Target;
use crate::connect::{Certs, SentinelTopology, Topology};
use crate::{Error, key};

/// Default bound on each Redis operation.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(rediscache::DEFAULT_TIMEOUT, Duration::from_secs(1));
/// ```
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default largest entry the cache stores.
///
/// ```
/// assert_eq!(rediscache::DEFAULT_MAX_VALUE_BYTES, 8 << 20);
/// ```
pub const DEFAULT_MAX_VALUE_BYTES: usize = 8 * 1024 * 1024;
/// Default key prefix.
///
/// ```
/// use rediscache::RedisCache;
///
/// let cache = RedisCache::builder().build()?;
/// assert_eq!(cache.prefix(), rediscache::DEFAULT_PREFIX);
/// # Ok::<(), rediscache::Error>(())
/// ```
pub const DEFAULT_PREFIX: &str = "rediscache";

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
    url: Option<String>,
    cluster: Option<Vec<String>>,
    sentinel: Option<(Vec<String>, String)>,
    tls_ca_file: Option<std::path::PathBuf>,
    tls_client: Option<(std::path::PathBuf, std::path::PathBuf)>,
    fields: Target,
    enabled: Option<bool>,
    prefix: Option<String>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    max_value_bytes: Option<usize>,
    use_env: Option<bool>,
}

impl std::fmt::Debug for RedisCacheBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCacheBuilder")
            .field("url", &self.url.as_ref().map(|_| "<set>"))
            .field("cluster", &self.cluster.as_ref().map(Vec::len))
            .field(
                "sentinel",
                &self
                    .sentinel
                    .as_ref()
                    .map(|(nodes, master)| (nodes.len(), master)),
            )
            .field("tls_ca_file", &self.tls_ca_file)
            .field(
                "tls_client_cert",
                &self.tls_client.as_ref().map(|(cert, _)| cert),
            )
            .field("host", &self.fields.host)
            .field("port", &self.fields.port)
            .field("db", &self.fields.db)
            .field("password", &self.fields.password.as_ref().map(|_| "***"))
            .field("enabled", &self.enabled)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisCacheBuilder {
    /// Connects to this URL: `redis://[user:password@]host[:port][/db]`. Replaces every
    /// connection setting of the environment; `host`, `port`, `db` and `password` given here
    /// still override its parts.
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
        self.url = Some(url.into());
        self
    }

    /// Uses a Redis Cluster, found through any of these nodes (`redis://[user:password@]host:port`
    /// each; the cluster tells the rest). All keys of one entry share a hash slot, so every
    /// feature works unchanged. Replaces `url`, `host`, `port` and the environment; `username`
    /// and `password` given here apply to every node.
    ///
    /// ```
    /// use rediscache::RedisCache;
    ///
    /// let cache = RedisCache::builder()
    ///     .cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000", "redis://10.0.0.3:7000"])
    ///     .build()?;
    /// # Ok::<(), rediscache::Error>(())
    /// ```
    pub fn cluster<I, S>(mut self, nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cluster = Some(nodes.into_iter().map(Into::into).collect());
        self
    }

    /// Uses the primary that Redis Sentinel names for `master`, asking these sentinels
    /// (`redis://[user:password@]host:port` each); after a failover the cache follows the new
    /// primary. `db`, `username` and `password` given here are those of the primary.
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
    pub fn sentinel<I, S>(mut self, sentinels: I, master: impl Into<String>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.sentinel = Some((
            sentinels.into_iter().map(Into::into).collect(),
            master.into(),
        ));
        self
    }

    /// Trusts the certificate authority in this PEM file for `rediss://` connections, besides
    /// the system's roots (for servers with a private CA). Read by `build()`.
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
    pub fn tls_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls_ca_file = Some(path.into());
        self
    }

    /// Presents this client certificate and private key (PEM files) to servers that check
    /// clients (`tls-auth-clients yes`). Read by `build()`.
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
    pub fn tls_client_cert(
        mut self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.tls_client = Some((cert.into(), key.into()));
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
        self.fields.host = Some(host.into());
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
        self.fields.port = Some(port);
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
        self.fields.db = Some(db);
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
        self.fields.username = Some(username.into());
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
        self.fields.password = Some(password.into());
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
        let enabled = self.enabled.unwrap_or(true);
        let prefix = self
            .prefix
            .clone()
            .unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        key::check_prefix(&prefix)?;
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let connect_timeout = self.connect_timeout.unwrap_or(DEFAULT_TIMEOUT);
        for (name, t) in [("timeout", timeout), ("connect_timeout", connect_timeout)] {
            if t.is_zero() {
                return Err(Error::config(name, "must be longer than zero"));
            }
        }
        let settings = Settings {
            prefix,
            certs: self.certs()?,
            timeout,
            connect_timeout,
            max_value_bytes: self.max_value_bytes.unwrap_or(DEFAULT_MAX_VALUE_BYTES),
        };
        if !enabled {
            return Ok(RedisCache::from_parts(None, settings));
        }
        if let Some((sentinels, master)) = &self.sentinel {
            return Ok(RedisCache::from_parts(
                Some(self.sentinel_topology(sentinels, master)?),
                settings,
            ));
        }
        if let Some(nodes) = &self.cluster {
            return Ok(RedisCache::from_parts(
                Some(self.cluster_topology(nodes)?),
                settings,
            ));
        }
        let base = match &self.url {
            Some(url) => Target::from_url(url, "url")?,
            None if self.use_env.unwrap_or(true) => Target::from_env(env)?,
            None => Target::default(),
        };
        if let Some(db) = self.fields.db {
            if db < 0 {
                return Err(Error::config("db", format!("{db} is not a database index")));
            }
        }
        if self.fields.port == Some(0) {
            return Err(Error::config("port", "0 is not a port"));
        }
        let info = base.overlay(&self.fields).connection_info()?;
        Ok(RedisCache::from_parts(
            Some(Topology::Single(Box::new(info))),
            settings,
        ))
    }

    /// The TLS files, read now so a missing or unreadable one is an error from `build()`.
    fn certs(&self) -> Result<Option<Certs>, Error> {
        if self.tls_ca_file.is_none() && self.tls_client.is_none() {
            return Ok(None);
        }
        let read = |setting: &str, path: &std::path::Path| {
            std::fs::read(path)
                .map_err(|e| Error::config(setting, format!("cannot read {}: {e}", path.display())))
        };
        Ok(Some(Certs {
            root: self
                .tls_ca_file
                .as_deref()
                .map(|p| read("tls_ca_file", p))
                .transpose()?,
            client: match &self.tls_client {
                Some((cert, key)) => Some((
                    read("tls_client_cert", cert)?,
                    read("tls_client_cert", key)?,
                )),
                None => None,
            },
        }))
    }

    /// The sentinels, and the primary's database and credentials from the builder.
    fn sentinel_topology(&self, sentinels: &[String], master: &str) -> Result<Topology, Error> {
        if self.url.is_some()
            || self.fields.host.is_some()
            || self.fields.port.is_some()
            || self.cluster.is_some()
        {
            return Err(Error::config(
                "sentinel",
                "give the sentinels with sentinel(..), not with url, host, port or cluster as well",
            ));
        }
        if sentinels.is_empty() || master.is_empty() {
            return Err(Error::config(
                "sentinel",
                "needs at least one sentinel and the master's name",
            ));
        }
        let sentinels = sentinels
            .iter()
            .map(|node| Target::from_url(node, "sentinel")?.connection_info())
            .collect::<Result<Vec<_>, Error>>()?;
        let db = self.fields.db.unwrap_or(0);
        if db < 0 {
            return Err(Error::config("db", format!("{db} is not a database index")));
        }
        let mut redis = redis::RedisConnectionInfo::default().set_db(db);
        if let Some(user) = &self.fields.username {
            redis = redis.set_username(user);
        }
        if let Some(password) = &self.fields.password {
            redis = redis.set_password(password);
        }
        Ok(Topology::Sentinel(Box::new(SentinelTopology {
            sentinels,
            master: master.to_owned(),
            redis,
        })))
    }

    /// The nodes of a cluster, with the builder's `username` and `password` over each.
    fn cluster_topology(&self, nodes: &[String]) -> Result<Topology, Error> {
        if self.url.is_some() || self.fields.host.is_some() || self.fields.port.is_some() {
            return Err(Error::config(
                "cluster",
                "give the nodes with cluster(..), not with url, host or port as well",
            ));
        }
        if nodes.is_empty() {
            return Err(Error::config("cluster", "needs at least one node"));
        }
        if self.fields.db.is_some_and(|db| db != 0) {
            return Err(Error::config("db", "a Redis Cluster has only database 0"));
        }
        let credentials = Target {
            username: self.fields.username.clone(),
            password: self.fields.password.clone(),
            ..Target::default()
        };
        let infos = nodes
            .iter()
            .map(|node| {
                let target = Target::from_url(node, "cluster")?.overlay(&credentials);
                if target.db.is_some_and(|db| db != 0) {
                    return Err(Error::config(
                        "cluster",
                        format!("{node:?}: a Redis Cluster has only database 0"),
                    ));
                }
                target.connection_info()
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Topology::Cluster(infos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn disabled_cache_accepts_any_url() {
        let cache = RedisCache::builder()
            .url("not a url")
            .enabled(false)
            .build()
            .expect("disabled is fine");
        assert!(!cache.is_enabled());
    }

    #[test]
    fn bad_url_is_a_config_error_naming_url() {
        let err = RedisCache::builder()
            .url("http://nope")
            .build_with_env(&no_env)
            .expect_err("bad");
        assert!(
            matches!(&err, Error::Config { setting, .. } if setting == "url"),
            "{err}"
        );
    }

    #[test]
    fn bad_environment_is_an_error_from_build() {
        let env = |k: &str| (k == "REDIS_SERVICE_PORT").then(|| "abc".to_string());
        let err = RedisCache::builder()
            .build_with_env(&env)
            .expect_err("bad port");
        assert!(err.to_string().contains("REDIS_SERVICE_PORT"), "{err}");
        // Code beats the environment: with a URL in code the variable is not read.
        assert!(
            RedisCache::builder()
                .url("redis://h:1")
                .build_with_env(&env)
                .is_ok()
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let b = RedisCache::builder()
            .password("hunter2")
            .url("redis://:hunter2@h:1/0");
        assert!(!format!("{b:?}").contains("hunter2"));
        let cache = b.build_with_env(&no_env).expect("valid");
        let shown = format!("{cache:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("h:1"), "{shown}");
    }

    #[test]
    fn zero_timeout_and_braced_prefix_are_refused() {
        assert!(
            RedisCache::builder()
                .timeout(Duration::ZERO)
                .build_with_env(&no_env)
                .is_err()
        );
        assert!(
            RedisCache::builder()
                .prefix("a{b}")
                .build_with_env(&no_env)
                .is_err()
        );
    }
}
