//! Where Redis is: one server, a Redis Cluster, or a primary behind Redis Sentinel, and the
//! certificates to reach it over TLS. Resolved from the configuration by `config.rs`; opened
//! by [`Connector`](super::connector::Connector). A cluster needs the `cluster` feature, a
//! sentinel setup `sentinel`, certificates `tls`.

use std::fmt;

use redis::ConnectionInfo;

use crate::config::Redacted;

/// Where Redis is.
#[derive(Clone)]
pub(crate) enum Topology {
    /// One server (or a proxy in front of several).
    Single(Box<ConnectionInfo>),
    /// A Redis Cluster, known by some of its nodes.
    #[cfg(feature = "cluster")]
    Cluster(Vec<ConnectionInfo>),
    /// A primary (and its replicas) watched by Redis Sentinel: the sentinels tell where the
    /// primary is, and again after a failover.
    #[cfg(feature = "sentinel")]
    Sentinel(Box<SentinelTopology>),
}

/// Where the sentinels are and what they watch.
#[cfg(feature = "sentinel")]
#[derive(Clone)]
pub(crate) struct SentinelTopology {
    pub(crate) sentinels: Vec<ConnectionInfo>,
    pub(crate) master: String,
    /// Database and credentials for the primary itself.
    pub(crate) redis: redis::RedisConnectionInfo,
}

impl Topology {
    pub(crate) fn is_cluster(&self) -> bool {
        #[cfg(feature = "cluster")]
        if matches!(self, Topology::Cluster(_)) {
            return true;
        }
        false
    }
}

impl fmt::Display for Topology {
    /// Addresses without passwords, for `Debug` output and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topology::Single(info) => write!(f, "{}", Redacted(info)),
            #[cfg(feature = "cluster")]
            Topology::Cluster(nodes) => {
                write!(f, "cluster[")?;
                for (i, node) in nodes.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{}", Redacted(node))?;
                }
                write!(f, "]")
            }
            #[cfg(feature = "sentinel")]
            Topology::Sentinel(s) => {
                write!(f, "sentinel[")?;
                for (i, node) in s.sentinels.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{}", Redacted(node))?;
                }
                write!(f, "]/{}/{}", s.master, s.redis.db())
            }
        }
    }
}

/// Certificates for TLS (`rediss://`) beyond the system's trusted roots.
#[cfg(feature = "tls")]
#[derive(Clone, Default)]
pub(crate) struct Certs {
    /// PEM of the certificate authority that signed the server's certificate.
    pub(crate) root: Option<Vec<u8>>,
    /// PEM of the client's certificate and private key, for servers that check clients.
    pub(crate) client: Option<(Vec<u8>, Vec<u8>)>,
}

/// Without the `tls` feature no certificates can be given: `Option<Certs>` is always `None`,
/// so what carries one needs no gate of its own.
#[cfg(not(feature = "tls"))]
#[derive(Clone, Debug)]
pub(crate) enum Certs {}

#[cfg(feature = "tls")]
impl fmt::Debug for Certs {
    /// Which certificates are set, never their contents (a client key is a secret).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certs")
            .field("root", &self.root.is_some())
            .field("client", &self.client.is_some())
            .finish()
    }
}

#[cfg(feature = "tls")]
impl Certs {
    pub(crate) fn to_redis(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self
                .client
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
            root_cert: self.root.clone(),
        }
    }
}
