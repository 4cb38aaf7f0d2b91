//! Opens connections to a topology with the cache's timeouts and certificates: the command
//! connections ([`Conn`]) and the one subscriber ([`Subscriber`]).

#[cfg(feature = "sentinel")]
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManagerConfig;
#[cfg(feature = "cluster")]
use redis::cluster::ClusterClientBuilder;
#[cfg(feature = "sentinel")]
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{AsyncConnectionConfig, Client, ConnectionInfo, ProtocolVersion, PushInfo};
use tokio::sync::mpsc::UnboundedSender;

use crate::Error;
use crate::backend::conn::Conn;
#[cfg(feature = "sentinel")]
use crate::backend::conn::SentinelConn;
#[cfg(feature = "cluster")]
use crate::backend::subscriber::ClusterSubscriber;
use crate::backend::subscriber::Subscriber;
#[cfg(feature = "sentinel")]
use crate::backend::topology::SentinelTopology;
use crate::backend::topology::{Certs, Topology};

/// rustls needs a process-wide crypto provider; the crate brings `ring`.
#[cfg(feature = "tls")]
fn install_crypto_provider() {
    // An error only means another one is installed already, which serves as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Opens connections to a topology with the cache's timeouts.
pub(crate) struct Connector {
    pub(super) topology: Topology,
    /// A sentinel setup's reply bound (the others get theirs when opened).
    #[cfg(feature = "sentinel")]
    timeout: Duration,
    certs: Option<Certs>,
    single: Option<(Client, AsyncConnectionConfig)>,
    #[cfg(feature = "cluster")]
    cluster: Option<redis::cluster::ClusterClient>,
    pub(super) connect_timeout: Duration,
}

impl Connector {
    /// Validates the topology; opens nothing.
    pub(crate) fn new(
        topology: &Topology,
        certs: Option<&Certs>,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Connector, Error> {
        #[cfg(feature = "tls")]
        install_crypto_provider();
        let mut connector = Connector {
            topology: topology.clone(),
            #[cfg(feature = "sentinel")]
            timeout,
            certs: certs.cloned(),
            single: None,
            #[cfg(feature = "cluster")]
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
            #[cfg(feature = "cluster")]
            Topology::Cluster(nodes) => {
                connector.cluster = Some(connector.cluster_builder(nodes, timeout).build()?);
            }
            #[cfg(feature = "sentinel")]
            Topology::Sentinel(s) => {
                // Checks the addresses now; connections are made per runtime by `open`.
                connector.sentinel_client(s, ProtocolVersion::RESP2)?;
            }
        }
        Ok(connector)
    }

    #[cfg(feature = "sentinel")]
    pub(super) fn sentinel_client(
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

    #[cfg(feature = "sentinel")]
    fn manager_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(0)
    }

    /// A client for one server, with the TLS certificates if any.
    pub(super) fn client(&self, info: ConnectionInfo) -> Result<Client, Error> {
        Ok(match &self.certs {
            #[cfg(feature = "tls")]
            Some(certs) => Client::build_with_tls(info, certs.to_redis())?,
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
            None => Client::open(info)?,
        })
    }

    #[cfg(feature = "cluster")]
    fn cluster_builder(&self, nodes: &[ConnectionInfo], timeout: Duration) -> ClusterClientBuilder {
        let builder = ClusterClientBuilder::new(nodes.to_vec())
            .connection_timeout(self.connect_timeout)
            .response_timeout(timeout)
            // Redirections (MOVED, ASK) and failovers are retried within the caller's timeout.
            .retries(3)
            .min_retry_wait(10)
            .max_retry_wait(200);
        match &self.certs {
            #[cfg(feature = "tls")]
            Some(certs) => builder.certs(certs.to_redis()),
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
            None => builder,
        }
    }

    /// The client of a single server (TLS or not), for blocking connections; `None` for a
    /// cluster or a sentinel setup.
    pub(crate) fn single_client(&self) -> Option<&Client> {
        self.single.as_ref().map(|(client, _)| client)
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
        #[cfg(feature = "sentinel")]
        if let Topology::Sentinel(s) = &self.topology {
            return Ok(Conn::Sentinel(Arc::new(SentinelConn {
                client: tokio::sync::Mutex::new(self.sentinel_client(s, ProtocolVersion::RESP2)?),
                config: self.manager_config(),
                current: std::sync::RwLock::new(None),
                db: s.redis.db(),
            })));
        }
        #[cfg(feature = "cluster")]
        if let Some(client) = &self.cluster {
            return match tokio::time::timeout(self.connect_timeout, client.get_async_connection())
                .await
            {
                Ok(conn) => Ok(Conn::Cluster(conn?)),
                Err(_) => Err(Error::Timeout(self.connect_timeout)),
            };
        }
        Err(Error::Disabled)
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
            #[cfg(feature = "cluster")]
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
            #[cfg(feature = "sentinel")]
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
