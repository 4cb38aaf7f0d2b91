//! Where the connection settings come from: code beats the environment beats defaults.

use std::fmt;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

use crate::Error;

/// Default host when neither code nor the environment names one.
pub(crate) const DEFAULT_HOST: &str = "localhost";
/// Default port.
pub(crate) const DEFAULT_PORT: u16 = 6379;

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
    pub(crate) fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Target, Error> {
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
}
