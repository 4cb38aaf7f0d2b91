//! One `redis-server` of a cluster: its ports, its process, and direct connections to it.

use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::binaries;

/// Connect/read/write timeout of the direct connections the helper queries nodes with.
const CONN_TIMEOUT: Duration = Duration::from_secs(5);
/// Node ports are drawn from here; the cluster bus is on `port + 10000`, which stays ≤ 55000.
const PORTS: std::ops::Range<u16> = 20000..45000;
/// Offset of a node's cluster bus port.
pub(super) const BUS: u16 = 10000;

/// One `redis-server` of the cluster.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) port: u16,
    /// `None` once [`Cluster::kill`](super::Cluster::kill)ed.
    pub(super) child: Option<Child>,
    /// Its own directory: `nodes.conf`, the log, any RDB file of a full sync.
    pub(super) dir: PathBuf,
    /// Its cluster node id (`CLUSTER MYID`); it never changes.
    pub(super) id: String,
}

impl Node {
    pub(super) fn log(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    pub(super) fn is_live(&self) -> bool {
        self.child.is_some()
    }

    pub(super) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A pseudo-random number, different on every call (std's randomly keyed hasher).
pub(super) fn random() -> u64 {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    std::collections::hash_map::RandomState::new().hash_one(CALLS.fetch_add(1, Ordering::Relaxed))
}

/// A port `p` in [`PORTS`] such that `p` and `p + 10000` are both free now and neither clashes
/// with `taken` (ports and bus ports already handed out).
pub(super) fn free_port_pair(taken: &BTreeSet<u16>) -> u16 {
    let span = u64::from(PORTS.end - PORTS.start);
    for _ in 0..1000 {
        let port = PORTS.start + u16::try_from(random() % span).expect("in range");
        if taken.contains(&port) || taken.contains(&(port + BUS)) {
            continue;
        }
        // Both bound at once: the pair is free together.
        let node = TcpListener::bind(("127.0.0.1", port));
        let bus = TcpListener::bind(("127.0.0.1", port + BUS));
        if node.is_ok() && bus.is_ok() {
            return port;
        }
    }
    panic!("no free port pair (port, port + {BUS}) in {PORTS:?}");
}

/// Starts a cluster-enabled node on `port`, with its files in `dir`.
pub(super) fn spawn_node(port: u16, dir: &Path) -> Child {
    let path = |name: &str| dir.join(name).to_str().expect("utf-8 temp path").to_owned();
    let mut cmd = binaries::server();
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .args(["--cluster-enabled", "yes"])
        .args(["--cluster-config-file", &path("nodes.conf")])
        .args(["--cluster-node-timeout", "1000"])
        // A replica may take over however long ago it last heard from its primary.
        .args(["--cluster-replica-validity-factor", "0"])
        // Replicas sync at once, instead of the primary waiting 5 s for more of them.
        .args(["--repl-diskless-sync-delay", "0"])
        .args(["--logfile", &path("redis.log")])
        .args(["--dir", dir.to_str().expect("utf-8 temp path")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    binaries::spawn_server(&mut cmd)
}

/// A direct connection to one node, with timeouts.
pub(super) fn connect(port: u16) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let conn = client.get_connection_with_timeout(CONN_TIMEOUT)?;
    conn.set_read_timeout(Some(CONN_TIMEOUT))?;
    conn.set_write_timeout(Some(CONN_TIMEOUT))?;
    Ok(conn)
}

/// Runs one command on one node over a fresh direct connection.
pub(super) fn query<T: redis::FromRedisValue>(
    port: u16,
    cmd: &redis::Cmd,
) -> redis::RedisResult<T> {
    cmd.query(&mut connect(port)?)
}

/// Runs one command (its words) on one node; its reply as text, `None` on any error.
pub(super) fn text(port: u16, args: &[&str]) -> Option<String> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    query(port, &cmd).ok()
}
