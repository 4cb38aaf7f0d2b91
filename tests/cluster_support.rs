//! The `Cluster` test helper itself (`tests/support/cluster.rs`): a real six-node Redis Cluster
//! starts healthy, a key lands on the primary the helper names, a slot migrates with its keys,
//! and a killed primary's replica takes over.
// One test talks through redis's cluster client, which the `cluster` feature brings.
#![cfg(feature = "cluster")]

mod support;

use std::time::{Duration, Instant};

use support::cluster::Cluster;

/// Starts a cluster and says how long it took (visible with `--nocapture`).
fn start() -> Cluster {
    let started = Instant::now();
    let cluster = Cluster::start();
    eprintln!("cluster of 6 nodes up in {:?}", started.elapsed());
    cluster
}

/// A direct, non-cluster connection to one node.
fn conn(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("url")
        .get_connection_with_timeout(Duration::from_secs(5))
        .expect("connects")
}

/// `GET key` on exactly the node on `port`: `Ok(value)` if it serves the key there, else the
/// error (`MOVED …`).
fn get_on(port: u16, key: &str) -> redis::RedisResult<Option<String>> {
    redis::cmd("GET").arg(key).query(&mut conn(port))
}

/// Where a `MOVED` error redirects to: the port, if it is one.
fn moved_to(err: &redis::RedisError) -> Option<u16> {
    if err.code() != Some("MOVED") {
        return None;
    }
    let (addr, _slot) = err.redirect_node()?;
    addr.strip_prefix("127.0.0.1:")?.parse().ok()
}

/// Keys in different slots, so together they touch every primary.
fn spread_keys() -> Vec<String> {
    (0..30).map(|i| format!("cluster-support:{i}")).collect()
}

#[test]
fn starts_three_primaries_with_a_replica_each_and_is_ok() {
    let cluster = start();
    assert!(cluster.healthy());
    let (primaries, replicas) = (cluster.primaries(), cluster.replicas());
    assert_eq!(primaries.len(), 3, "primaries: {primaries:?}");
    assert_eq!(replicas.len(), 3, "replicas: {replicas:?}");
    for &p in &primaries {
        assert_eq!(cluster.replicas_of(p).len(), 1, "replicas of {p}");
    }
    let ports = cluster.ports();
    assert_eq!(ports.len(), 6);
    for &p in &ports {
        assert!(
            (20000..45000).contains(&p) && u32::from(p) + 10000 <= 65535,
            "port {p}"
        );
        let info = cluster
            .cli(p, &["CLUSTER", "INFO"])
            .expect("redis-cli runs");
        assert!(info.contains("cluster_state:ok"), "{p}: {info}");
        assert!(info.contains("cluster_slots_assigned:16384"), "{p}: {info}");
        assert!(info.contains("cluster_known_nodes:6"), "{p}: {info}");
    }
    for &r in &replicas {
        let info = cluster
            .cli(r, &["INFO", "replication"])
            .expect("redis-cli runs");
        assert!(info.contains("role:slave"), "{r}: {info}");
        assert!(info.contains("master_link_status:up"), "{r}: {info}");
    }
    let urls = cluster.urls();
    assert_eq!(urls.len(), 6);
    assert!(urls.iter().all(|u| u.starts_with("redis://127.0.0.1:")));
    assert_eq!(cluster.keys("*"), Vec::<String>::new());
}

#[test]
fn a_key_written_through_a_cluster_client_lands_on_primary_for_key() {
    let cluster = start();
    let client = redis::cluster::ClusterClient::builder(cluster.urls())
        .connection_timeout(Duration::from_secs(5))
        .response_timeout(Duration::from_secs(5))
        .build()
        .expect("cluster client");
    let mut cc = client.get_connection().expect("cluster connection");
    let keys = spread_keys();
    for key in &keys {
        let () = redis::cmd("SET")
            .arg(key)
            .arg(format!("v-{key}"))
            .query(&mut cc)
            .expect("SET through the cluster client");
    }
    let mut owners = std::collections::BTreeSet::new();
    for key in &keys {
        let owner = cluster.primary_for_key(key);
        owners.insert(owner);
        assert_eq!(
            get_on(owner, key).expect("the owner serves it"),
            Some(format!("v-{key}")),
            "{key} on {owner}"
        );
        for other in cluster.primaries().into_iter().filter(|p| *p != owner) {
            let err = get_on(other, key).expect_err("not served elsewhere");
            assert_eq!(moved_to(&err), Some(owner), "{key} on {other}: {err}");
        }
    }
    assert_eq!(owners.len(), 3, "30 keys spread over every primary");
    assert_eq!(cluster.keys("cluster-support:*").len(), keys.len());

    // redis-cli in cluster mode follows the redirect from any node, replicas included.
    let key = "via-cli";
    let any = cluster.replicas()[0];
    let out = cluster.cli_cluster(any, &["SET", key, "from-cli"]);
    assert_eq!(out.as_deref().map(str::trim), Some("OK"));
    let owner = cluster.primary_for_key(key);
    assert_eq!(get_on(owner, key).unwrap(), Some("from-cli".to_owned()));
    assert_eq!(cluster.keys("via-*"), vec![key.to_owned()]);
}

#[test]
fn migrate_slot_moves_a_slot_with_its_keys() {
    let cluster = start();
    let keys = ["{moving}a", "{moving}b", "{moving}c"];
    for key in keys {
        let out = cluster.cli_cluster(cluster.primaries()[0], &["SET", key, &format!("v-{key}")]);
        assert_eq!(out.as_deref().map(str::trim), Some("OK"), "{key}");
    }
    let slot = cluster.keyslot(keys[0]);
    let from = cluster.primary_for_key(keys[0]);
    // More than one `GETKEYSINSLOT` batch of 100.
    let mut pipe = redis::pipe();
    for i in 0..250 {
        pipe.cmd("SET")
            .arg(format!("{{moving}}bulk:{i}"))
            .arg(i)
            .ignore();
    }
    let () = pipe.query(&mut conn(from)).unwrap();
    let to = cluster
        .primaries()
        .into_iter()
        .find(|p| *p != from)
        .expect("another primary");

    let started = Instant::now();
    cluster.migrate_slot(slot, to);
    eprintln!(
        "slot {slot} moved from {from} to {to} in {:?}",
        started.elapsed()
    );

    assert_eq!(cluster.primary_for_slot(slot), to);
    assert_eq!(cluster.primary_for_key(keys[1]), to);
    for key in keys {
        assert_eq!(get_on(to, key).unwrap(), Some(format!("v-{key}")), "{key}");
        let err = get_on(from, key).expect_err("the old owner redirects");
        assert_eq!(moved_to(&err), Some(to), "{key}: {err}");
        // Still readable through a cluster-mode client that starts at the old owner.
        let out = cluster.cli_cluster(from, &["GET", key]);
        assert_eq!(
            out.as_deref().map(str::trim),
            Some(format!("v-{key}").as_str())
        );
    }
    let left: i64 = redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .query(&mut conn(from))
        .unwrap();
    assert_eq!(left, 0, "no key of slot {slot} left on {from}");
    let arrived: i64 = redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .query(&mut conn(to))
        .unwrap();
    assert_eq!(arrived, 253, "every key of slot {slot} on {to}");
    assert!(cluster.healthy());
    // The whole key space is still there, once.
    assert_eq!(cluster.keys("{moving}bulk:*").len(), 250);
    assert_eq!(cluster.keys("{moving}?"), keys.map(str::to_owned).to_vec());
}

#[test]
fn kill_and_wait_failover_promote_the_replica_and_the_cluster_is_ok_again() {
    let mut cluster = start();
    let key = "survives-failover";
    let victim = cluster.primary_for_key(key);
    let () = redis::cmd("SET")
        .arg(key)
        .arg("kept")
        .query(&mut conn(victim))
        .unwrap();
    // Acknowledged by its replica before the primary dies.
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5000)
        .query(&mut conn(victim))
        .unwrap();
    assert_eq!(acked, 1);
    let replica = cluster.replicas_of(victim);
    assert_eq!(replica.len(), 1);

    let started = Instant::now();
    cluster.kill(victim);
    let promoted = cluster.wait_failover(victim);
    eprintln!(
        "{victim} killed, {promoted} promoted in {:?}",
        started.elapsed()
    );

    assert_eq!(promoted, replica[0]);
    assert!(cluster.healthy());
    let primaries = cluster.primaries();
    assert_eq!(primaries.len(), 3, "{primaries:?}");
    assert!(primaries.contains(&promoted) && !primaries.contains(&victim));
    assert!(!cluster.ports().contains(&victim));
    assert_eq!(cluster.urls().len(), 5);
    assert_eq!(cluster.primary_for_key(key), promoted);
    let info = cluster.cli(promoted, &["INFO", "replication"]).unwrap();
    assert!(info.contains("role:master"), "{info}");
    for port in cluster.ports() {
        let info = cluster.cli(port, &["CLUSTER", "INFO"]).unwrap();
        assert!(info.contains("cluster_state:ok"), "{port}: {info}");
    }
    let out = cluster.cli_cluster(cluster.ports()[0], &["GET", key]);
    assert_eq!(out.as_deref().map(str::trim), Some("kept"));
}
