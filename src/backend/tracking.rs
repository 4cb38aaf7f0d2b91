//! Client tracking: connections on which Redis reports every change to a key under the cache's
//! prefix (`CLIENT TRACKING ON BCAST PREFIX <prefix>:{`, RESP3 push messages), kept honest by
//! a heartbeat. The local tier (`src/local/`) listens to the [`Signal`]s; nothing here knows
//! what is cached.
//!
//! One connection for a single server, one to the primary the sentinels name (checked to still
//! be the primary at every heartbeat), one to every primary of a cluster (whose slot map is
//! compared at every heartbeat). Any doubt ends the connections' generation with
//! [`Signal::Lost`]; a new generation starts after a short backoff.
//!
//! Ordering is what makes this safe. Redis sends an invalidation before the reply to any
//! command it processes in a later pass of its event loop (in broadcast mode it collects a
//! pass's changed keys and sends them when the pass ends, so a heartbeat answered in the same
//! pass as a change may overtake its invalidation by that flush: microseconds, and bounded by
//! the lease even if the connection died right between the two), and the driver hands pushes to our
//! sender as it reads them, before it delivers any reply read after them. An invalidation's
//! keys are applied right there, synchronously, by the [`OnChanged`] the tier gave (no channel
//! and no task to wake: on a busy process each change would otherwise cost a wake-up of the
//! listener task); so once the reply to a heartbeat sent at `t` has arrived, every
//! invalidation of a change made before `t` is already applied, and [`Signal::Alive`]`(t)`,
//! sent after that reply, comes later still. A flush is a [`Signal::Flushed`] in the channel,
//! queued by the driver before it delivers later replies, so before the `Alive` of any
//! heartbeat those replies answer, as it always was. The one order that changed: keys may now
//! be applied before a `Flushed` or `Lost` queued ahead of them is. That is harmless: applying
//! an invalidation only ever removes an entry and bumps a stripe, so doing it sooner never
//! lets anything be served; and never sooner than the change itself, which Redis made before
//! it sent the push.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, PushInfo, PushKind, RedisError, Value};
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

use crate::backend::connector::Connector;
use crate::backend::topology::Topology;

/// How often the heartbeat confirms the connections.
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);
/// A heartbeat reply later than this ends the generation.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(1);
/// Waits between attempts to open tracking connections, doubling from the first.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));
/// What `CLIENT LIST` shows for a tracking connection.
pub(crate) const CLIENT_NAME: &str = "rediscache-tracking";

/// Told, on the connection's driver as the push is read, of every key Redis reports changed:
/// it must be quick and must not block (see the module's docs for why it runs there).
pub(crate) type OnChanged = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// What the tracking connections tell besides changed keys (those go to [`OnChanged`]). The
/// state changes carry the generation of the connections they come from (numbered from 1, a
/// new number for every attempt).
#[derive(Debug)]
pub(crate) enum Signal {
    /// The database was flushed: every key may have changed.
    Flushed,
    /// Every change made before this instant has been reported.
    Alive(u64, Instant),
    /// This generation reports nothing more: what changed since its last `Alive` is unknown.
    Lost(u64, String),
    /// The server refuses tracking (an old server, an ACL, a service without it).
    Refused(String),
}

/// Why tracking connections could not be opened or stopped working.
enum Failure {
    /// Worth another try: a connection error, a timeout, a server busy or loading.
    Transient(String),
    /// The server answered no.
    Refused(String),
}

impl From<RedisError> for Failure {
    fn from(e: RedisError) -> Failure {
        let transient = e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || matches!(
                e.code(),
                Some(
                    "LOADING"
                        | "BUSY"
                        | "MASTERDOWN"
                        | "TRYAGAIN"
                        | "CLUSTERDOWN"
                        | "READONLY"
                        | "NOREPLICAS"
                )
            )
            // No sentinel names a primary that answers as one (during a failover), no cluster
            // node answers: the deployment is in flux, not refusing.
            || matches!(
                e.kind(),
                redis::ErrorKind::MasterNameNotFoundBySentinel
                    | redis::ErrorKind::NoValidReplicasFoundBySentinel
                    | redis::ErrorKind::ClusterConnectionNotFound
            );
        if transient {
            Failure::Transient(e.to_string())
        } else {
            Failure::Refused(e.to_string())
        }
    }
}

impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Failure {
        match e {
            crate::Error::Redis(e) => Failure::from(e),
            // A client that cannot be built (a bad address or certificate) never will be.
            other => Failure::Refused(other.to_string()),
        }
    }
}

impl Failure {
    #[cfg(feature = "cluster")]
    fn text(self) -> String {
        match self {
            Failure::Transient(s) | Failure::Refused(s) => s,
        }
    }
}

/// What a heartbeat checks besides the connections answering.
enum Check {
    /// Nothing more.
    Answers,
    /// The server is still a primary (a sentinel setup: a demoted primary means a failover).
    #[cfg(feature = "sentinel")]
    Primary,
    /// The cluster's slot map is still this one.
    #[cfg(feature = "cluster")]
    Slots(Vec<(i64, i64, String, i64)>),
}

/// Keeps tracking connections to `connector`'s topology for keys starting with `prefix`,
/// telling `changed` of every key they report changed and `signals` of the rest, until the
/// receiver is gone or the server refuses.
pub(crate) async fn track(
    connector: Arc<Connector>,
    prefix: String,
    changed: OnChanged,
    signals: UnboundedSender<Signal>,
) {
    let mut generation = 0;
    let mut backoff = BACKOFF.0;
    loop {
        if signals.is_closed() {
            return;
        }
        generation += 1;
        let why = match open(&connector, &prefix, generation, &changed, &signals).await {
            Ok((mut conns, check)) => {
                backoff = BACKOFF.0;
                heartbeat(&mut conns, &check, generation, &signals).await
            }
            Err(Failure::Refused(why)) => {
                let _ = signals.send(Signal::Refused(why));
                return;
            }
            Err(Failure::Transient(why)) => why,
        };
        if signals.send(Signal::Lost(generation, why)).is_err() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

/// Opens generation `generation`'s connections with tracking on.
async fn open(
    connector: &Connector,
    prefix: &str,
    generation: u64,
    changed: &OnChanged,
    signals: &UnboundedSender<Signal>,
) -> Result<(Vec<MultiplexedConnection>, Check), Failure> {
    let (clients, check) = targets(connector).await?;
    let mut conns = Vec::with_capacity(clients.len());
    for client in clients {
        let (tx, changed) = (signals.clone(), changed.clone());
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connector.connect_timeout))
            .set_response_timeout(Some(HEARTBEAT_TIMEOUT))
            .set_push_sender(
                move |push: PushInfo| match signal(generation, push, &*changed) {
                    Some(s) => tx.send(s).map_err(|_| ()),
                    None => Ok(()),
                },
            );
        let connect = client.get_multiplexed_async_connection_with_config(&config);
        let mut conn = tokio::time::timeout(connector.connect_timeout, connect)
            .await
            .map_err(|_| Failure::Transient("timed out connecting".into()))??;
        // A name for `CLIENT LIST` and operators; refused names are no reason to stop.
        let _ = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(CLIENT_NAME)
            .query_async::<()>(&mut conn)
            .await;
        redis::cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .arg("BCAST")
            .arg("PREFIX")
            .arg(format!("{prefix}:{{"))
            .query_async::<()>(&mut conn)
            .await?;
        conns.push(conn);
    }
    Ok((conns, check))
}

/// What a push message tells, if anything besides the changed keys, which go to `changed`
/// right away (see the module's docs).
fn signal(generation: u64, push: PushInfo, changed: &dyn Fn(&[u8])) -> Option<Signal> {
    match push.kind {
        PushKind::Invalidate => match push.data.into_iter().next() {
            Some(Value::Array(keys)) => {
                for key in &keys {
                    if let Value::BulkString(key) = key {
                        changed(key);
                    }
                }
                None
            }
            // `null`: a FLUSHALL or FLUSHDB.
            _ => Some(Signal::Flushed),
        },
        PushKind::Disconnection => Some(Signal::Lost(generation, "connection closed".into())),
        _ => None,
    }
}

/// Confirms the connections every [`HEARTBEAT_EVERY`] until one fails or the listener is gone;
/// returns why it stopped.
async fn heartbeat(
    conns: &mut [MultiplexedConnection],
    check: &Check,
    generation: u64,
    signals: &UnboundedSender<Signal>,
) -> String {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if signals.is_closed() {
            return "the local tier is gone".into();
        }
        let sent = Instant::now();
        if let Err(why) = confirm(conns, check).await {
            return why;
        }
        if signals.send(Signal::Alive(generation, sent)).is_err() {
            return "the local tier is gone".into();
        }
    }
}

/// One heartbeat: every connection answers (within its response timeout) and the topology is
/// still the one tracked.
async fn confirm(conns: &mut [MultiplexedConnection], check: &Check) -> Result<(), String> {
    for conn in conns.iter_mut() {
        match check {
            #[cfg(feature = "sentinel")]
            Check::Primary => {
                let role: Vec<Value> = redis::cmd("ROLE")
                    .query_async(conn)
                    .await
                    .map_err(|e| e.to_string())?;
                match role.first() {
                    Some(Value::BulkString(r)) if r == b"master" => {}
                    Some(Value::SimpleString(r)) if r == "master" => {}
                    _ => return Err("the primary became a replica".into()),
                }
            }
            _ => {
                redis::cmd("PING")
                    .query_async::<()>(conn)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    #[cfg(feature = "cluster")]
    if let (Check::Slots(known), Some(conn)) = (check, conns.first_mut()) {
        let now = slots(conn, "").await.map_err(Failure::text)?;
        if &now != known {
            return Err("the cluster's slot map changed".into());
        }
    }
    Ok(())
}

/// The servers to track, as RESP3 clients, and what the heartbeat checks.
async fn targets(connector: &Connector) -> Result<(Vec<Client>, Check), Failure> {
    match &connector.topology {
        Topology::Single(info) => {
            let resp3 = (**info).clone().set_redis_settings(
                info.redis_settings()
                    .clone()
                    .set_protocol(redis::ProtocolVersion::RESP3),
            );
            Ok((vec![connector.client(resp3)?], Check::Answers))
        }
        #[cfg(feature = "sentinel")]
        Topology::Sentinel(s) => {
            let mut sentinels = connector.sentinel_client(s, redis::ProtocolVersion::RESP3)?;
            let client =
                tokio::time::timeout(connector.connect_timeout * 2, sentinels.async_get_client())
                    .await
                    .map_err(|_| Failure::Transient("timed out asking the sentinels".into()))??;
            Ok((vec![client], Check::Primary))
        }
        #[cfg(feature = "cluster")]
        Topology::Cluster(nodes) => cluster_targets(connector, nodes).await,
    }
}

/// Every primary of the cluster, found through the first seed node that answers.
#[cfg(feature = "cluster")]
async fn cluster_targets(
    connector: &Connector,
    nodes: &[redis::ConnectionInfo],
) -> Result<(Vec<Client>, Check), Failure> {
    let mut last = Failure::Transient("no cluster node given".into());
    for seed in nodes {
        let host = match seed.addr() {
            redis::ConnectionAddr::Tcp(host, _) | redis::ConnectionAddr::TcpTls { host, .. } => {
                host.clone()
            }
            _ => continue,
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connector.connect_timeout))
            .set_response_timeout(Some(HEARTBEAT_TIMEOUT));
        let opened = async {
            let client = connector.client(seed.clone())?;
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            slots(&mut conn, &host).await
        };
        let map = match tokio::time::timeout(connector.connect_timeout * 2, opened).await {
            Ok(Ok(map)) => map,
            Ok(Err(e)) => {
                last = e;
                continue;
            }
            Err(_) => {
                last = Failure::Transient("timed out reading the slot map".into());
                continue;
            }
        };
        let mut primaries: Vec<(String, i64)> =
            map.iter().map(|(_, _, h, p)| (h.clone(), *p)).collect();
        primaries.sort();
        primaries.dedup();
        let mut clients = Vec::with_capacity(primaries.len());
        for (host, port) in primaries {
            let mut addr = seed.addr().clone();
            let port =
                u16::try_from(port).map_err(|_| Failure::Refused(format!("bad port {port}")))?;
            match &mut addr {
                redis::ConnectionAddr::Tcp(h, p)
                | redis::ConnectionAddr::TcpTls {
                    host: h, port: p, ..
                } => {
                    *h = host;
                    *p = port;
                }
                _ => continue,
            }
            let info = seed.clone().set_addr(addr).set_redis_settings(
                seed.redis_settings()
                    .clone()
                    .set_protocol(redis::ProtocolVersion::RESP3),
            );
            clients.push(connector.client(info)?);
        }
        // A slot map seen from the seed, with its hosts; the heartbeat asks a primary, which
        // names hosts the same way only if the seed did: compare what the primaries say.
        let mut first = clients
            .first()
            .ok_or_else(|| Failure::Transient("the cluster has no primaries".into()))?
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let seen = slots(&mut first, "").await?;
        return Ok((clients, Check::Slots(seen)));
    }
    Err(last)
}

/// The slot map as `(first slot, last slot, primary host, primary port)`, sorted; an empty
/// host (the node asked) is given as `host`.
#[cfg(feature = "cluster")]
async fn slots(
    conn: &mut MultiplexedConnection,
    host: &str,
) -> Result<Vec<(i64, i64, String, i64)>, Failure> {
    let reply: Value = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
    let Value::Array(ranges) = reply else {
        return Err(Failure::Refused("CLUSTER SLOTS: not an array".into()));
    };
    let mut map = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Value::Array(parts) = range else { continue };
        let (Some(Value::Int(first)), Some(Value::Int(last)), Some(Value::Array(primary))) =
            (parts.first(), parts.get(1), parts.get(2))
        else {
            continue;
        };
        let node_host = match primary.first() {
            Some(Value::BulkString(h)) => String::from_utf8_lossy(h).into_owned(),
            Some(Value::SimpleString(h)) => h.clone(),
            _ => continue,
        };
        let Some(Value::Int(port)) = primary.get(1) else {
            continue;
        };
        let node_host = if node_host.is_empty() || node_host == "?" {
            host.to_owned()
        } else {
            node_host
        };
        map.push((*first, *last, node_host, *port));
    }
    map.sort();
    Ok(map)
}
