//! The connection that carries this process's subscriptions (RESP3, pushed messages handed to
//! [`Wakeups`](super::wakeups::Wakeups)), for every topology.

#[cfg(feature = "sentinel")]
use std::sync::Arc;

use redis::RedisResult;
use redis::aio::ConnectionManager;
#[cfg(feature = "cluster")]
use redis::cluster_async::ClusterConnection;

use crate::Error;
#[cfg(feature = "sentinel")]
use crate::backend::conn::SentinelConn;

/// A cluster's subscriber connection, opened on first use.
#[cfg(feature = "cluster")]
pub(crate) struct ClusterSubscriber {
    pub(super) client: redis::cluster::ClusterClient,
    pub(super) conn: tokio::sync::OnceCell<ClusterConnection>,
}

#[cfg(feature = "cluster")]
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
    #[cfg(feature = "cluster")]
    Cluster(Box<ClusterSubscriber>),
    #[cfg(feature = "sentinel")]
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
            #[cfg(feature = "cluster")]
            Subscriber::Cluster(c) => {
                let mut conn = c.conn().await?;
                if subscribe {
                    conn.subscribe(channel).await
                } else {
                    conn.unsubscribe(channel).await
                }
            }
            #[cfg(feature = "sentinel")]
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
