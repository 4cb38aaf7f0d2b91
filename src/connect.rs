//! Where Redis is (one server or a cluster) and how to open connections to it.
//!
//! Both topologies give the same two things: command connections ([`Conn`], multiplexed, which
//! recover from failures by themselves) and one RESP3 subscriber for wake-ups ([`Subscriber`]).
//! Everything above this module is written once for both.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionInfo, Pipeline, ProtocolVersion, PushInfo,
    RedisFuture, RedisResult, Value,
};
use tokio::sync::mpsc::UnboundedSender;

use crate::Error;
use crate::config::Redacted;

/// Where Redis is.
#[derive(Clone)]
pub(crate) enum Topology {
    /// One server (or a proxy in front of several).
    Single(Box<ConnectionInfo>),
    /// A Redis Cluster, known by some of its nodes.
    Cluster(Vec<ConnectionInfo>),
    /// A primary (and its replicas) watched by Redis Sentinel: the sentinels tell where the
    /// primary is, and again after a failover.
    Sentinel(Box<SentinelTopology>),
}

/// Where the sentinels are and what they watch.
#[derive(Clone)]
pub(crate) struct SentinelTopology {
    pub(crate) sentinels: Vec<ConnectionInfo>,
    pub(crate) master: String,
    /// Database and credentials for the primary itself.
    pub(crate) redis: redis::RedisConnectionInfo,
}

impl Topology {
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Topology::Cluster(_))
    }
}

impl fmt::Display for Topology {
    /// Addresses without passwords, for `Debug` output and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topology::Single(info) => write!(f, "{}", Redacted(info)),
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
#[derive(Clone, Default)]
pub(crate) struct Certs {
    /// PEM of the certificate authority that signed the server's certificate.
    pub(crate) root: Option<Vec<u8>>,
    /// PEM of the client's certificate and private key, for servers that check clients.
    pub(crate) client: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for Certs {
    /// Which certificates are set, never their contents (a client key is a secret).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certs")
            .field("root", &self.root.is_some())
            .field("client", &self.client.is_some())
            .finish()
    }
}

impl Certs {
    fn to_redis(&self) -> redis::TlsCertificates {
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

/// rustls needs a process-wide crypto provider; the crate brings `ring`.
fn install_crypto_provider() {
    // An error only means another one is installed already, which serves as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A command connection of any topology. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub(crate) enum Conn {
    /// Replaced by `conns.rs` when it breaks.
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
    Sentinel(Arc<SentinelConn>),
}

impl Conn {
    /// Sends one command. On a single server it goes straight to the connection: the
    /// [`ConnectionLike`] path (what `AsyncCommands` takes) boxes two futures per command, which
    /// a hit would pay on every call.
    pub(crate) async fn send(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Conn::Single(c) => c.send_packed_command(cmd).await,
            other => other.req_packed_command(cmd).await,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => Box::pin(c.clone().command(cmd)),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Sentinel(c) => Box::pin(c.clone().commands(cmd, offset, count)),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Sentinel(c) => c.db,
        }
    }
}

/// A connection to whichever server the sentinels name as primary. It asks them on first use,
/// and again after an error that says the primary moved (it cannot be reached, or it became a
/// read-only replica).
pub(crate) struct SentinelConn {
    client: tokio::sync::Mutex<SentinelClient>,
    config: ConnectionManagerConfig,
    current: std::sync::RwLock<Option<ConnectionManager>>,
    db: i64,
}

impl SentinelConn {
    async fn manager(&self) -> RedisResult<ConnectionManager> {
        if let Some(m) = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(m);
        }
        let mut client = self.client.lock().await;
        if let Some(m) = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(m);
        }
        let manager = client
            .async_get_client()
            .await?
            .get_connection_manager_lazy(self.config.clone())?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(manager.clone());
        Ok(manager)
    }

    fn check<T>(&self, result: &RedisResult<T>) {
        if let Err(e) = result {
            let moved = e.is_io_error()
                || e.is_connection_dropped()
                || e.is_connection_refusal()
                || e.is_timeout()
                || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly);
            if moved {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = None;
            }
        }
    }

    async fn command(self: Arc<Self>, cmd: &Cmd) -> RedisResult<Value> {
        let result = match self.manager().await {
            Ok(mut m) => m.req_packed_command(cmd).await,
            Err(e) => Err(e),
        };
        self.check(&result);
        result
    }

    async fn commands(
        self: Arc<Self>,
        cmd: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let result = match self.manager().await {
            Ok(mut m) => m.req_packed_commands(cmd, offset, count).await,
            Err(e) => Err(e),
        };
        self.check(&result);
        result
    }
}

/// Opens connections to a topology with the cache's timeouts.
pub(crate) struct Connector {
    topology: Topology,
    timeout: Duration,
    certs: Option<Certs>,
    single: Option<(Client, AsyncConnectionConfig)>,
    cluster: Option<redis::cluster::ClusterClient>,
    connect_timeout: Duration,
}

impl Connector {
    /// Validates the topology; opens nothing.
    pub(crate) fn new(
        topology: &Topology,
        certs: Option<&Certs>,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Connector, Error> {
        install_crypto_provider();
        let mut connector = Connector {
            topology: topology.clone(),
            timeout,
            certs: certs.cloned(),
            single: None,
            cluster: None,
            connect_timeout,
        };
        match topology {
            Topology::Single(info) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(timeout));
                connector.single = Some((connector.client((**info).clone())?, config));
            }
            Topology::Cluster(nodes) => {
                connector.cluster = Some(connector.cluster_builder(nodes, timeout).build()?);
            }
            Topology::Sentinel(s) => {
                // Checks the addresses now; connections are made per runtime by `open`.
                connector.sentinel_client(s, ProtocolVersion::RESP2)?;
            }
        }
        Ok(connector)
    }

    fn sentinel_client(
        &self,
        s: &SentinelTopology,
        protocol: ProtocolVersion,
    ) -> Result<SentinelClient, Error> {
        let node = redis::sentinel::SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(s.redis.clone().set_protocol(protocol));
        Ok(SentinelClient::build(
            s.sentinels.clone(),
            s.master.clone(),
            Some(node),
            SentinelServerType::Master,
        )?)
    }

    fn manager_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(0)
    }

    /// A client for one server, with the TLS certificates if any.
    fn client(&self, info: ConnectionInfo) -> Result<Client, Error> {
        Ok(match &self.certs {
            Some(certs) => Client::build_with_tls(info, certs.to_redis())?,
            None => Client::open(info)?,
        })
    }

    fn cluster_builder(&self, nodes: &[ConnectionInfo], timeout: Duration) -> ClusterClientBuilder {
        let builder = ClusterClientBuilder::new(nodes.to_vec())
            .connection_timeout(self.connect_timeout)
            .response_timeout(timeout)
            // Redirections (MOVED, ASK) and failovers are retried within the caller's timeout.
            .retries(3)
            .min_retry_wait(10)
            .max_retry_wait(200);
        match &self.certs {
            Some(certs) => builder.certs(certs.to_redis()),
            None => builder,
        }
    }

    /// A command connection whose driver lives on the current runtime, connected (a
    /// sentinel setup's connects on first use, once it has asked where the primary is).
    pub(crate) async fn open(&self) -> Result<Conn, Error> {
        if let Some((client, config)) = &self.single {
            let connect = client.get_multiplexed_async_connection_with_config(config);
            return match tokio::time::timeout(self.connect_timeout, connect).await {
                Ok(conn) => Ok(Conn::Single(conn?)),
                Err(_) => Err(Error::Timeout(self.connect_timeout)),
            };
        }
        if let Topology::Sentinel(s) = &self.topology {
            return Ok(Conn::Sentinel(Arc::new(SentinelConn {
                client: tokio::sync::Mutex::new(self.sentinel_client(s, ProtocolVersion::RESP2)?),
                config: self.manager_config(),
                current: std::sync::RwLock::new(None),
                db: s.redis.db(),
            })));
        }
        match &self.cluster {
            Some(client) => {
                match tokio::time::timeout(self.connect_timeout, client.get_async_connection())
                    .await
                {
                    Ok(conn) => Ok(Conn::Cluster(conn?)),
                    Err(_) => Err(Error::Timeout(self.connect_timeout)),
                }
            }
            None => Err(Error::Unavailable("no topology")),
        }
    }

    /// The subscriber: a RESP3 connection that hands pushed messages to `pushes`.
    pub(crate) fn subscriber(
        &self,
        pushes: UnboundedSender<PushInfo>,
        timeout: Duration,
    ) -> Result<Subscriber, Error> {
        match &self.topology {
            Topology::Single(info) => {
                let resp3 = info.clone().set_redis_settings(
                    info.redis_settings()
                        .clone()
                        .set_protocol(ProtocolVersion::RESP3),
                );
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(0)
                    .set_push_sender(pushes)
                    .set_automatic_resubscription();
                Ok(Subscriber::Single(
                    self.client(resp3)?.get_connection_manager_lazy(config)?,
                ))
            }
            Topology::Cluster(nodes) => {
                let client = self
                    .cluster_builder(nodes, timeout)
                    .use_protocol(ProtocolVersion::RESP3)
                    .push_sender(pushes)
                    .build()?;
                Ok(Subscriber::Cluster(Box::new(ClusterSubscriber {
                    client,
                    conn: tokio::sync::OnceCell::new(),
                })))
            }
            Topology::Sentinel(s) => Ok(Subscriber::Sentinel(Arc::new(SentinelConn {
                client: tokio::sync::Mutex::new(self.sentinel_client(s, ProtocolVersion::RESP3)?),
                config: self
                    .manager_config()
                    .set_push_sender(pushes)
                    .set_automatic_resubscription(),
                current: std::sync::RwLock::new(None),
                db: s.redis.db(),
            }))),
        }
    }
}

/// A cluster's subscriber connection, opened on first use.
pub(crate) struct ClusterSubscriber {
    client: redis::cluster::ClusterClient,
    conn: tokio::sync::OnceCell<ClusterConnection>,
}

impl ClusterSubscriber {
    async fn conn(&self) -> Result<ClusterConnection, Error> {
        Ok(self
            .conn
            .get_or_try_init(|| self.client.get_async_connection())
            .await?
            .clone())
    }
}

/// The connection waiters subscribe through.
pub(crate) enum Subscriber {
    Single(ConnectionManager),
    Cluster(Box<ClusterSubscriber>),
    Sentinel(Arc<SentinelConn>),
}

impl Subscriber {
    pub(crate) async fn subscribe(&self, channel: &str) -> Result<(), Error> {
        self.send(true, channel).await
    }

    pub(crate) async fn unsubscribe(&self, channel: &str) -> Result<(), Error> {
        self.send(false, channel).await
    }

    async fn send(&self, subscribe: bool, channel: &str) -> Result<(), Error> {
        let result = match self {
            Subscriber::Single(c) => subscription(&mut c.clone(), subscribe, channel).await,
            Subscriber::Cluster(c) => {
                let mut conn = c.conn().await?;
                if subscribe {
                    conn.subscribe(channel).await
                } else {
                    conn.unsubscribe(channel).await
                }
            }
            Subscriber::Sentinel(c) => {
                let result = subscription(&mut c.manager().await?, subscribe, channel).await;
                c.check(&result);
                result
            }
        };
        Ok(result?)
    }
}

async fn subscription(
    conn: &mut ConnectionManager,
    subscribe: bool,
    channel: &str,
) -> RedisResult<()> {
    if subscribe {
        conn.subscribe(channel).await
    } else {
        conn.unsubscribe(channel).await
    }
}
