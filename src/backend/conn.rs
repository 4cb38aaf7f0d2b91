//! A command connection of any topology, behind one type: everything above it is written once
//! for a single server, a cluster and a sentinel setup.

#[cfg(feature = "sentinel")]
use std::sync::Arc;

use redis::aio::{ConnectionLike, MultiplexedConnection};
#[cfg(feature = "sentinel")]
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
#[cfg(feature = "cluster")]
use redis::cluster_async::ClusterConnection;
#[cfg(feature = "sentinel")]
use redis::sentinel::SentinelClient;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// A command connection of any topology. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub(crate) enum Conn {
    /// Replaced by the pool ([`super::pool`]) when it breaks.
    Single(MultiplexedConnection),
    #[cfg(feature = "cluster")]
    Cluster(ClusterConnection),
    #[cfg(feature = "sentinel")]
    Sentinel(Arc<SentinelConn>),
}

impl Conn {
    /// Sends one command. On a single server it goes straight to the connection: the
    /// [`ConnectionLike`] path (what `AsyncCommands` takes) boxes two futures per command, which
    /// a hit would pay on every call.
    pub(crate) async fn send(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Conn::Single(c) => c.send_packed_command(cmd).await,
            #[cfg(any(feature = "cluster", feature = "sentinel"))]
            other => other.req_packed_command(cmd).await,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_command(cmd),
            #[cfg(feature = "sentinel")]
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
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            #[cfg(feature = "sentinel")]
            Conn::Sentinel(c) => Box::pin(c.clone().commands(cmd, offset, count)),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.get_db(),
            #[cfg(feature = "sentinel")]
            Conn::Sentinel(c) => c.db,
        }
    }
}

/// A connection to whichever server the sentinels name as primary. It asks them on first use,
/// and again after an error that says the primary moved (it cannot be reached, or it became a
/// read-only replica).
#[cfg(feature = "sentinel")]
pub(crate) struct SentinelConn {
    pub(super) client: tokio::sync::Mutex<SentinelClient>,
    pub(super) config: ConnectionManagerConfig,
    pub(super) current: std::sync::RwLock<Option<ConnectionManager>>,
    pub(super) db: i64,
}

#[cfg(feature = "sentinel")]
impl SentinelConn {
    pub(super) async fn manager(&self) -> RedisResult<ConnectionManager> {
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

    pub(super) fn check<T>(&self, result: &RedisResult<T>) {
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
