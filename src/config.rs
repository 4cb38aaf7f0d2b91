//! What a cache is configured with, and where each setting comes from: code beats the
//! environment beats defaults. The builder collects what code asked for ([`Requested`]); this
//! module reads the environment, fills in defaults, and resolves it all into a [`Topology`]
//! and [`Settings`], checking everything without touching the network.

use std::fmt;
#[cfg(feature = "tls")]
use std::path::PathBuf;
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

use crate::Error;
#[cfg(feature = "sentinel")]
use crate::backend::topology::SentinelTopology;
use crate::backend::topology::{Certs, Topology};

/// Default host when neither code nor the environment names one.
pub(crate) const DEFAULT_HOST: &str = "localhost";
/// Default port.
pub(crate) const DEFAULT_PORT: u16 = 6379;
/// Default bound on each Redis operation and connection attempt.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default largest entry the cache stores.
pub(crate) const DEFAULT_MAX_VALUE_BYTES: usize = 8 * 1024 * 1024;
/// Default key prefix.
pub(crate) const DEFAULT_PREFIX: &str = "rediscache";
/// Default number of blocking connections for sync hits.
pub(crate) const DEFAULT_SYNC_CONNECTIONS: usize = 4;
/// The most blocking connections a cache may ask for.
pub(crate) const MAX_SYNC_CONNECTIONS: usize = 1024;

/// The settings of a cache besides where Redis is.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) prefix: String,
    pub(crate) certs: Option<Certs>,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_value_bytes: usize,
    pub(crate) sync_connections: usize,
    /// The local tier, if asked for.
    #[cfg(feature = "local")]
    pub(crate) local: Option<crate::Local>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            prefix: DEFAULT_PREFIX.to_owned(),
            certs: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_TIMEOUT,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            sync_connections: DEFAULT_SYNC_CONNECTIONS,
            #[cfg(feature = "local")]
            local: None,
        }
    }
}

/// Reads an environment variable: `std::env::var` in production, a map in tests.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Where Redis is, as code asked for it through the builder; every field possibly unset.
#[derive(Clone, Default)]
pub(crate) struct Requested {
    pub(crate) url: Option<String>,
    #[cfg(feature = "cluster")]
    pub(crate) cluster: Option<Vec<String>>,
    #[cfg(feature = "sentinel")]
    pub(crate) sentinel: Option<(Vec<String>, String)>,
    #[cfg(feature = "tls")]
    pub(crate) tls_ca_file: Option<PathBuf>,
    #[cfg(feature = "tls")]
    pub(crate) tls_client: Option<(PathBuf, PathBuf)>,
    /// Host, port, db and credentials given one by one.
    pub(crate) fields: Target,
}

/// Connection settings, each field possibly unset.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) addr: Option<ConnectionAddr>,
    pub(crate) host: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) db: Option<i64>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("addr", &self.addr)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("db", &self.db)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Target {
    /// Reads a `redis://` URL; `source` names where it came from, for the error.
    pub(crate) fn from_url(url: &str, source: &str) -> Result<Target, Error> {
        // Checked here, not left to redis: another crate may turn on redis's TLS, and this
        // cache would then connect over TLS without the certificates a user cannot give it.
        #[cfg(not(feature = "tls"))]
        if is_tls_url(url) {
            return Err(Error::config(
                source,
                "a rediss:// URL needs TLS: enable rediscache's `tls` feature",
            ));
        }
        let info = url.into_connection_info().map_err(|e| {
            Error::config(
                source,
                format!("{e} (expected redis://[user:password@]host[:port][/db])"),
            )
        })?;
        let redis = info.redis_settings();
        Ok(Target {
            addr: Some(info.addr().clone()),
            db: Some(redis.db()),
            username: redis.username().map(str::to_owned),
            password: redis.password().map(str::to_owned),
            ..Target::default()
        })
    }

    /// Fields set in `over` replace those of `self`.
    pub(crate) fn overlay(mut self, over: &Target) -> Target {
        if over.addr.is_some() {
            self.addr.clone_from(&over.addr);
            self.host = None;
            self.port = None;
        }
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f.clone_from(&over.$f); } )* };
        }
        take!(host, port, db, username, password);
        self
    }

    /// The settings of the environment: `REDIS_URL`, then `REDIS_SERVICE_HOST`, `_PORT`, `_DB`,
    /// `_PASSWORD` over it.
    pub(crate) fn from_env(var: Env<'_>) -> Result<Target, Error> {
        let mut target = match var("REDIS_URL") {
            Some(url) => Target::from_url(&url, "REDIS_URL")?,
            None => Target::default(),
        };
        let fields = Target {
            host: var("REDIS_SERVICE_HOST").filter(|h| !h.is_empty()),
            port: var("REDIS_SERVICE_PORT")
                .map(|p| {
                    p.trim()
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| {
                            Error::config(
                                "REDIS_SERVICE_PORT",
                                format!("{p:?} is not a port number (1-65535)"),
                            )
                        })
                })
                .transpose()?,
            db: var("REDIS_SERVICE_DB")
                .map(|d| {
                    d.trim()
                        .parse::<i64>()
                        .ok()
                        .filter(|d| *d >= 0)
                        .ok_or_else(|| {
                            Error::config(
                                "REDIS_SERVICE_DB",
                                format!("{d:?} is not a database index (0, 1, ...)"),
                            )
                        })
                })
                .transpose()?,
            password: var("REDIS_SERVICE_PASSWORD").filter(|p| !p.is_empty()),
            ..Target::default()
        };
        target = target.overlay(&fields);
        Ok(target)
    }

    /// The final connection settings, defaults filling what is unset.
    pub(crate) fn connection_info(&self) -> Result<ConnectionInfo, Error> {
        let addr = match (&self.addr, &self.host, self.port) {
            (Some(ConnectionAddr::Tcp(host, port)), h, p) => ConnectionAddr::Tcp(
                h.clone().unwrap_or_else(|| host.clone()),
                p.unwrap_or(*port),
            ),
            (Some(addr), None, None) => addr.clone(),
            (_, h, p) => ConnectionAddr::Tcp(
                h.clone().unwrap_or_else(|| DEFAULT_HOST.to_owned()),
                p.unwrap_or(DEFAULT_PORT),
            ),
        };
        let mut redis = RedisConnectionInfo::default().set_db(self.db.unwrap_or(0));
        if let Some(user) = &self.username {
            redis = redis.set_username(user);
        }
        if let Some(password) = &self.password {
            redis = redis.set_password(password);
        }
        Ok(addr.into_connection_info()?.set_redis_settings(redis))
    }
}

/// Whether `url` asks for TLS (`rediss://`, or `valkeys://` as redis also reads).
#[cfg(not(feature = "tls"))]
fn is_tls_url(url: &str) -> bool {
    url.trim_start()
        .split_once("://")
        .is_some_and(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("rediss") || scheme.eq_ignore_ascii_case("valkeys")
        })
}

/// Shows where a `ConnectionInfo` points, never its password.
pub(crate) struct Redacted<'a>(pub(crate) &'a ConnectionInfo);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redis = self.0.redis_settings();
        write!(f, "redis://")?;
        match (redis.username(), redis.password()) {
            (Some(user), Some(_)) => write!(f, "{user}:***@")?,
            (Some(user), None) => write!(f, "{user}@")?,
            (None, Some(_)) => write!(f, ":***@")?,
            (None, None) => {}
        }
        write!(f, "{}/{}", self.0.addr(), redis.db())
    }
}

impl Requested {
    /// The topology: sentinels or cluster nodes if given, else one server from the URL, or
    /// (when `env` is given) the environment, with the fields given in code over it.
    pub(crate) fn topology(&self, env: Option<Env<'_>>) -> Result<Topology, Error> {
        #[cfg(feature = "sentinel")]
        if let Some((sentinels, master)) = &self.sentinel {
            return self.sentinel_topology(sentinels, master);
        }
        #[cfg(feature = "cluster")]
        if let Some(nodes) = &self.cluster {
            return self.cluster_topology(nodes);
        }
        let base = match (&self.url, env) {
            (Some(url), _) => Target::from_url(url, "url")?,
            (None, Some(env)) => Target::from_env(env)?,
            (None, None) => Target::default(),
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
        Ok(Topology::Single(Box::new(info)))
    }

    /// The TLS files, read now so a missing or unreadable one is an error from `build()`.
    #[cfg(feature = "tls")]
    pub(crate) fn certs(&self) -> Result<Option<Certs>, Error> {
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

    /// Without the `tls` feature there is no way to ask for certificates.
    #[cfg(not(feature = "tls"))]
    pub(crate) fn certs(&self) -> Result<Option<Certs>, Error> {
        Ok(None)
    }

    /// The sentinels, and the primary's database and credentials from the builder.
    #[cfg(feature = "sentinel")]
    fn sentinel_topology(&self, sentinels: &[String], master: &str) -> Result<Topology, Error> {
        #[cfg(feature = "cluster")]
        let cluster = self.cluster.is_some();
        #[cfg(not(feature = "cluster"))]
        let cluster = false;
        if self.url.is_some() || self.fields.host.is_some() || self.fields.port.is_some() || cluster
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
    #[cfg(feature = "cluster")]
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
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn shown(t: &Target) -> String {
        Redacted(&t.connection_info().expect("valid")).to_string()
    }

    #[test]
    fn defaults_are_localhost_6379_db_0() {
        assert_eq!(shown(&Target::default()), "redis://localhost:6379/0");
    }

    #[test]
    fn environment_fields_apply() {
        let t = Target::from_env(&env(&[
            ("REDIS_SERVICE_HOST", "cache.internal"),
            ("REDIS_SERVICE_PORT", "7000"),
            ("REDIS_SERVICE_DB", "3"),
            ("REDIS_SERVICE_PASSWORD", "s3cret"),
        ]))
        .expect("valid");
        assert_eq!(shown(&t), "redis://:***@cache.internal:7000/3");
        assert_eq!(
            t.connection_info()
                .expect("valid")
                .redis_settings()
                .password(),
            Some("s3cret")
        );
    }

    #[test]
    fn service_fields_beat_redis_url() {
        let t = Target::from_env(&env(&[
            ("REDIS_URL", "redis://h1:1111/1"),
            ("REDIS_SERVICE_DB", "2"),
        ]))
        .expect("valid");
        assert_eq!(shown(&t), "redis://h1:1111/2");
    }

    #[test]
    fn code_beats_environment() {
        let from_env = Target::from_env(&env(&[
            ("REDIS_SERVICE_HOST", "envhost"),
            ("REDIS_SERVICE_PORT", "7000"),
        ]))
        .expect("valid");
        let code = Target {
            port: Some(7001),
            ..Target::default()
        };
        assert_eq!(
            shown(&from_env.clone().overlay(&code)),
            "redis://envhost:7001/0"
        );
        let code_url = Target::from_url("redis://codehost:7002/4", "url").expect("valid");
        assert_eq!(
            shown(&from_env.overlay(&code_url)),
            "redis://codehost:7002/4"
        );
    }

    #[test]
    fn malformed_variables_are_named() {
        let err = Target::from_env(&env(&[("REDIS_SERVICE_PORT", "abc")])).expect_err("bad port");
        assert!(err.to_string().contains("REDIS_SERVICE_PORT"), "{err}");
        let err = Target::from_env(&env(&[("REDIS_SERVICE_DB", "-1")])).expect_err("bad db");
        assert!(err.to_string().contains("REDIS_SERVICE_DB"), "{err}");
        let err = Target::from_env(&env(&[("REDIS_URL", "http://x")])).expect_err("bad url");
        assert!(err.to_string().contains("REDIS_URL"), "{err}");
    }

    #[test]
    fn url_credentials_are_read_and_redacted() {
        let t = Target::from_url("redis://alice:pw@h:1/5", "url").expect("valid");
        assert_eq!(shown(&t), "redis://alice:***@h:1/5");
    }

    // What `RedisCacheBuilder::build` makes of the requested settings.
    use crate::RedisCache;

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

    // The feature's whole promise: a clear error from build(), not a failed connection later.
    #[cfg(not(feature = "tls"))]
    #[test]
    fn rediss_without_the_tls_feature_is_a_config_error_naming_it() {
        let err = RedisCache::builder()
            .url("rediss://h:6380/0")
            .build_with_env(&no_env)
            .expect_err("no TLS without the feature");
        assert!(
            matches!(&err, Error::Config { setting, .. } if setting == "url"),
            "{err}"
        );
        assert!(err.to_string().contains("`tls` feature"), "{err}");
        let env = |k: &str| (k == "REDIS_URL").then(|| " ValKeyS://h:6380".to_string());
        let err = RedisCache::builder()
            .build_with_env(&env)
            .expect_err("nor from the environment");
        assert!(err.to_string().contains("REDIS_URL"), "{err}");
    }

    #[cfg(feature = "tls")]
    #[test]
    fn rediss_with_the_tls_feature_is_accepted() {
        let cache = RedisCache::builder()
            .url("rediss://h:6380/0")
            .build_with_env(&no_env)
            .expect("valid");
        assert!(format!("{cache:?}").contains("h:6380"));
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
