//! The Redis side: the commands the cache sends, each bounded by the configured timeout and
//! guarded by the circuit breaker, over connections of any topology ([`topology`],
//! [`connector`], [`conn`]), one per runtime, replaced when they break ([`pool`]), blocking
//! connections for the `GET` of sync hits ([`blocking`]), and the subscriptions that wake
//! waiters ([`wakeups`]). Nothing here knows about cached functions.

pub(crate) mod blocking;
pub(crate) mod breaker;
pub(crate) mod conn;
pub(crate) mod connector;
pub(crate) mod lease;
pub(crate) mod pool;
pub(crate) mod scripts;
pub(crate) mod subscriber;
pub(crate) mod topology;
#[cfg(feature = "local")]
pub(crate) mod tracking;
pub(crate) mod wakeups;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use redis::{AsyncCommands, Cmd};
use tokio::runtime::Handle;

use crate::Error;
use crate::clock::px;
use crate::key::Key;
use blocking::Lanes;
use breaker::Breaker;
use conn::Conn;
use connector::Connector;
use pool::Conns;
use scripts as script;
use topology::{Certs, Topology};
use wakeups::Wakeups;

pub(crate) use lease::{Landing, Lease};

/// A value key of the wrong type (garbage written by something else) reads as an undecodable
/// entry, so it is recomputed and overwritten.
fn garbage_is_undecodable(read: Result<Option<Vec<u8>>, Error>) -> Result<Option<Vec<u8>>, Error> {
    match read {
        Err(Error::Redis(e)) if e.code() == Some("WRONGTYPE") => Ok(Some(Vec::new())),
        other => other,
    }
}

/// How long misses compute for themselves after Redis refused a write.
const WRITES_REFUSED_FOR_MS: u64 = 1_000;

/// Connections to one Redis server or cluster.
pub(crate) struct Backend {
    conns: Conns,
    /// Blocking connections for sync hits on a single server; `None` elsewhere, or when the
    /// cache asked for none.
    lanes: Option<Lanes>,
    /// Whether a single command may take longer than the connection's own timeouts (a cluster
    /// redirects and retries; a sentinel setup asks the sentinels first), so it needs the outer
    /// bound too.
    composite: bool,
    breaker: Breaker,
    /// Until when (ms since the epoch) misses compute instead of returning a default; 0: never.
    writes_refused_until: AtomicU64,
    pub(crate) wakeups: Arc<Wakeups>,
    timeout: Duration,
    /// Entries waiting to be stored again after Redis did not take them (see [`LateStore`]).
    late_stores: Arc<AtomicUsize>,
    /// Computations and stores under way, late ones included (see [`Storing`]), which
    /// `close()` waits for.
    storing: Arc<AtomicUsize>,
    /// Invalidations sent so far: a late store that sees a new one gives up, so it cannot
    /// bring back what was just removed.
    invalidations: AtomicU64,
}

/// Late stores pending at once, at most: during a long outage, values computed past this many
/// are served but not kept for later.
const MAX_LATE_STORES: usize = 1024;

/// Counts one pending late store while it lives.
pub(crate) struct LateStore {
    pending: Arc<AtomicUsize>,
    _storing: Storing,
}

impl Drop for LateStore {
    fn drop(&mut self) {
        self.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts one computation or store under way while it lives.
pub(crate) struct Storing(Arc<AtomicUsize>);

impl Drop for Storing {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

impl Backend {
    /// Prepares connections without opening them; must run inside the background runtime's
    /// context, where the subscriber's tasks will live. `sync_connections`: how many blocking
    /// connections sync hits may use (single server only).
    pub(crate) fn new(
        topology: &Topology,
        certs: Option<&Certs>,
        timeout: Duration,
        connect_timeout: Duration,
        sync_connections: usize,
    ) -> Result<Backend, Error> {
        let connector = Connector::new(topology, certs, timeout, connect_timeout)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let wakeups = Wakeups::start(connector.subscriber(tx, timeout)?, rx, timeout);
        let lanes = connector.single_client().and_then(|client| {
            Lanes::new(client.clone(), sync_connections, timeout, connect_timeout)
        });
        Ok(Backend {
            lanes,
            conns: Conns::new(connector, Handle::try_current().ok().map(|h| h.id())),
            composite: !matches!(topology, Topology::Single(_)),
            breaker: Breaker::default(),
            writes_refused_until: AtomicU64::new(0),
            wakeups,
            timeout,
            late_stores: Arc::default(),
            storing: Arc::default(),
            invalidations: AtomicU64::new(0),
        })
    }

    /// Keeps client tracking connections for keys under `prefix`, telling `changed` of every
    /// key they report changed and `signals` of the rest (see [`tracking`]), until `signals` is
    /// closed or the server refuses.
    #[cfg(feature = "local")]
    pub(crate) fn track(
        &self,
        prefix: String,
        changed: tracking::OnChanged,
        signals: tokio::sync::mpsc::UnboundedSender<tracking::Signal>,
    ) -> impl Future<Output = ()> + Send + 'static {
        tracking::track(self.conns.connector(), prefix, changed, signals)
    }

    /// Runs `op` on this runtime's connection; a broken connection is replaced for the next
    /// operation.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, Error>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let (conn, ticket) = self.conns.get().await?;
        let result = op(conn).await.map_err(Error::from);
        self.conns.check(&ticket, &result);
        result
    }

    /// Runs one operation on this runtime's connection within the timeout, through the
    /// circuit breaker.
    async fn bounded<T, F, Fut>(&self, op: F) -> Result<T, Error>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.breaker.allow(self.timeout.saturating_mul(2)) {
            return Err(Error::CircuitOpen);
        }
        let result = match tokio::time::timeout(self.timeout, self.run(op)).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout(self.timeout)),
        };
        self.report(&result);
        result
    }

    /// As [`bounded`](Self::bounded) for the `GET` of a hit on a single server: that
    /// connection's own timeouts bound it (a connection attempt by `connect_timeout`, a reply by
    /// `timeout`), which spares the hit path a second timer. A cluster may redirect and retry,
    /// and a sentinel setup may first ask where the primary is, so there the outer bound stays.
    async fn single<T, F, Fut>(&self, op: F) -> Result<T, Error>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if self.composite {
            return self.bounded(op).await;
        }
        if !self.breaker.allow(self.timeout.saturating_mul(2)) {
            return Err(Error::CircuitOpen);
        }
        let result = self.run(op).await;
        self.report(&result);
        result
    }

    /// Tells the circuit breaker how an operation went.
    fn report<T>(&self, result: &Result<T, Error>) {
        match result {
            Err(e) if breaker::is_outage(e) => {
                if let Some(wait) = self.breaker.failure() {
                    tracing::warn!(error = %e, backoff = ?wait, "rediscache: redis is unreachable; calls run the function and skip redis until it answers again");
                }
            }
            _ => {
                if self.breaker.success() {
                    tracing::info!("rediscache: redis answers again; caching resumes");
                }
            }
        }
    }

    /// Runs a write (lease, store): as [`bounded`](Self::bounded), and remembers for a second
    /// when Redis refuses writes while answering (`OOM`, `READONLY`, `NOAUTH`...), so misses
    /// compute their value instead of returning a default that no refresh could replace.
    async fn write<T, F, Fut>(&self, op: F) -> Result<T, Error>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let result = self.bounded(op).await;
        match &result {
            Ok(_) => self.writes_refused_until.store(0, Ordering::Relaxed),
            Err(Error::Redis(_)) => {
                let until = crate::clock::now_ms().saturating_add(WRITES_REFUSED_FOR_MS);
                self.writes_refused_until.store(until, Ordering::Relaxed);
            }
            Err(_) => {}
        }
        result
    }

    /// Whether Redis refused a write within the last second.
    pub(crate) fn writes_refused(&self) -> bool {
        let until = self.writes_refused_until.load(Ordering::Relaxed);
        until != 0 && crate::clock::now_ms() < until
    }

    /// Reads an entry: the one command of a hit. A key of the wrong type reads as an
    /// undecodable entry ([`garbage_is_undecodable`]).
    pub(crate) async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, Error> {
        // Sized up front: the command's two buffers are allocated once.
        let mut get = Cmd::with_capacity(2, 3 + key.value().len());
        get.arg("GET").arg(key.value());
        let read = |mut c: Conn| async move {
            let reply = c.send(&get).await?.extract_error()?;
            Ok(redis::from_redis_value(reply)?)
        };
        garbage_is_undecodable(self.single(read).await)
    }

    /// Stores an entry for `expire`, releases our lease and wakes waiters, in one script,
    /// unless an invalidation of the key overtook the computation: `version` is the key's
    /// invalidation count it started from (see [`script::STORE`]). Returns whether it stored.
    pub(crate) async fn store(
        &self,
        key: &Key,
        entry: &[u8],
        expire: Duration,
        token: &str,
        version: &str,
    ) -> Result<bool, Error> {
        self.run_store(&script::STORE, key, entry, expire, token, version)
            .await
            .map(|stored| stored == 1)
    }

    /// Runs a store script ([`script::STORE`] or [`script::STORE_LATE`], which take the same
    /// keys and arguments) as a write.
    async fn run_store(
        &self,
        store: &redis::Script,
        key: &Key,
        entry: &[u8],
        expire: Duration,
        token: &str,
        version: &str,
    ) -> Result<i64, Error> {
        let mut call = store.prepare_invoke();
        call.key(key.value())
            .key(key.lease())
            .key(key.invalidations())
            .arg(entry)
            .arg(px(expire))
            .arg(token)
            .arg(key.channel())
            .arg(script::FAILED)
            .arg(version);
        self.write(|mut c| async move { call.invoke_async::<i64>(&mut c).await })
            .await
    }

    /// A place among the pending late stores, if fewer than [`MAX_LATE_STORES`] are pending.
    pub(crate) fn late_store(&self) -> Option<LateStore> {
        self.late_stores
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < MAX_LATE_STORES).then_some(n + 1)
            })
            .ok()
            .map(|_| LateStore {
                pending: self.late_stores.clone(),
                _storing: self.storing(),
            })
    }

    /// Counts a store as under way until the guard drops.
    pub(crate) fn storing(&self) -> Storing {
        self.storing.fetch_add(1, Ordering::Relaxed);
        Storing(self.storing.clone())
    }

    /// How many stores are under way.
    pub(crate) fn stores_in_flight(&self) -> usize {
        self.storing.load(Ordering::Acquire)
    }

    /// How many invalidations this cache has sent.
    pub(crate) fn invalidations(&self) -> u64 {
        self.invalidations.load(Ordering::Relaxed)
    }

    /// Stores an entry that Redis did not take the first time, for `expire`, unless something
    /// newer holds it or an invalidation overtook it (see [`script::STORE_LATE`]). Returns
    /// whether it stored.
    pub(crate) async fn store_late(
        &self,
        key: &Key,
        entry: &[u8],
        expire: Duration,
        token: &str,
        version: &str,
    ) -> Result<bool, Error> {
        self.run_store(&script::STORE_LATE, key, entry, expire, token, version)
            .await
            .map(|stored| stored == 1)
    }

    /// Removes an entry and its lease, and counts an invalidation of the key that refuses the
    /// store of every computation that started before it, for `keep` (see
    /// [`script::INVALIDATE`]); wakes waiters.
    pub(crate) async fn delete(&self, key: &Key, keep: Duration) -> Result<(), Error> {
        self.invalidations.fetch_add(1, Ordering::Relaxed);
        let mut call = script::INVALIDATE.prepare_invoke();
        call.key(key.value())
            .key(key.lease())
            .key(key.invalidations())
            .arg(px(keep))
            .arg(key.channel());
        self.bounded(|mut c| async move { call.invoke_async::<i64>(&mut c).await })
            .await
            .map(drop)
    }

    /// Starts a new generation of function `name`, `hard` (a miss) or soft (stale), in the
    /// hash `key`, and announces it on `channel`. Returns the new generation.
    pub(crate) async fn bump(
        &self,
        key: &str,
        name: &str,
        hard: bool,
        channel: &str,
    ) -> Result<u64, Error> {
        let mut call = script::BUMP.prepare_invoke();
        call.key(key)
            .arg(name)
            .arg(if hard { "hard" } else { "soft" })
            .arg(channel);
        self.bounded(|mut c| async move { call.invoke_async::<u64>(&mut c).await })
            .await
    }

    /// The `(hard, soft)` generations of each function in `names`, from the hash `key` (0 for
    /// one never bumped).
    pub(crate) async fn generations(
        &self,
        key: &str,
        names: &[&str],
    ) -> Result<Vec<(u64, u64)>, Error> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(key);
        for name in names {
            cmd.arg(format!("{name}@hard")).arg(format!("{name}@soft"));
        }
        let values: Vec<Option<u64>> = self
            .bounded(|mut c| async move { cmd.query_async(&mut c).await })
            .await?;
        Ok(values
            .chunks(2)
            .map(|pair| {
                let at = |i: usize| pair.get(i).copied().flatten().unwrap_or(0);
                (at(0), at(1))
            })
            .collect())
    }

    /// Adds each `(field, n)` to the hash `key`, in one pipeline.
    pub(crate) async fn add_to_hash(
        &self,
        key: &str,
        fields: &[(String, u64)],
    ) -> Result<(), Error> {
        let mut pipe = redis::pipe();
        for (field, n) in fields {
            pipe.hincr(key, field, *n).ignore();
        }
        self.bounded(|mut c| async move { pipe.query_async::<()>(&mut c).await })
            .await
    }

    /// Reads the stats hash; with `reset`, deletes it in the same step.
    pub(crate) async fn read_stats(
        &self,
        stats_key: &str,
        reset: bool,
    ) -> Result<HashMap<String, i64>, Error> {
        if reset {
            let mut call = script::TAKE_STATS.prepare_invoke();
            call.key(stats_key);
            self.bounded(|mut c| async move { call.invoke_async(&mut c).await })
                .await
        } else {
            self.bounded(|mut c| async move { c.hgetall(stats_key).await })
                .await
        }
    }

    /// Answers whether Redis is reachable and accepts our credentials. Goes to Redis even when
    /// the circuit breaker is open, so a health check sees the actual cause.
    pub(crate) async fn ping(&self) -> Result<(), Error> {
        let run = self.run(|mut c| async move {
            redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .map(drop)
        });
        let result = match tokio::time::timeout(self.timeout, run).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout(self.timeout)),
        };
        match &result {
            Err(e) if breaker::is_outage(e) => drop(self.breaker.failure()),
            Err(_) => {}
            Ok(()) => drop(self.breaker.success()),
        }
        result
    }
}
