//! [`Sentinels`] itself: three sentinels agree on the primary, its replica follows it, and a
//! failover promotes the replica.

use std::time::Duration;

use rediscache_testkit::sentinel::MASTER;
use rediscache_testkit::{Sentinels, Target, Topo};

#[test]
fn sentinels_name_the_primary_and_fail_over_to_the_replica() {
    let mut setup = Sentinels::start();
    let Target::Sentinel { sentinels, master } = setup.target() else {
        panic!("a sentinel target");
    };
    assert_eq!(sentinels, setup.urls());
    assert_eq!(sentinels.len(), 3);
    assert_eq!(master, MASTER);
    assert_eq!(setup.master_port(), Some(setup.primary.port));
    assert_eq!(setup.current_primary().port, setup.primary.port);

    let mut primary = setup.primary.conn();
    redis::cmd("SET")
        .arg("k")
        .arg("v")
        .exec(&mut primary)
        .unwrap();
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5000)
        .query(&mut primary)
        .unwrap();
    assert_eq!(acked, 1, "the replica follows the primary");
    assert_eq!(setup.replica.keys("*"), ["k"]);
    assert_eq!(setup.keys("*"), ["k"]);

    setup.fail_over();
    assert_eq!(setup.master_port(), Some(setup.replica.port));
    assert_eq!(setup.current_primary().port, setup.replica.port);
    let role = setup.replica.cli(&["ROLE"]).unwrap();
    assert!(role.starts_with("master"), "{role}");
    let mut promoted = setup.conn_for("k");
    promoted
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let () = redis::cmd("SET")
        .arg("after")
        .arg("1")
        .query(&mut promoted)
        .unwrap();
    assert_eq!(
        setup.keys("*"),
        ["after", "k"],
        "writes go to the promoted replica"
    );
}
