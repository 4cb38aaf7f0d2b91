//! Cached methods and the companions of every cached function, end to end against a private
//! `redis-server` (or the topology `REDISCACHE_TEST_TOPOLOGY` names): `#[rediscache::methods]`
//! on inherent and trait impls, `&self` and `self: Arc<Self>`, `key_self`, a sync method;
//! `NAME_uncached`, `NAME_invalidate`, `NAME_invalidate_all`, `NAME_expire_all`,
//! `NAME_refresh`, `NAME_set`, `NAME_get`; and a `Function` handle sharing entries with a
//! `#[cache]` function of the same name and arguments.

mod common;

use std::sync::Arc;
use std::time::Duration;

use rediscache::{Freshness, Function, RedisCache, cache, methods};
use serde::{Deserialize, Serialize};
use testkit::*;

use common::*;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    by: String,
}

#[tokio::test]
async fn a_method_is_named_after_its_type_and_its_instances_share_entries() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[derive(Clone)]
    struct UserRepo {
        pool: &'static str,
    }

    #[methods]
    impl UserRepo {
        #[cache(cache = CACHE, refresh = "30s", expire = "10m", wait = true)]
        async fn user(&self, id: u64) -> Result<User, String> {
            RUNS.tick();
            Ok(User {
                id,
                by: self.pool.to_owned(),
            })
        }
    }

    let (a, b) = (UserRepo { pool: "a" }, UserRepo { pool: "b" });
    let first = a.user(7).await.expect("computed");
    assert_eq!(first.by, "a");
    assert_eq!(a.user(7).await, Ok(first.clone()), "a hit");
    assert_eq!(
        b.user(7).await,
        Ok(first),
        "`self` is not in the key: another instance gets the same entry"
    );
    assert_eq!(RUNS.get(), 1, "one computation for all three calls");
    assert_eq!(
        entries(&*server),
        vec![r#"rediscache:{methods::UserRepo::user(7)}"#.to_owned()],
        "named module::Type::method, keyed by the arguments only"
    );
    assert_eq!(b.user(8).await.expect("computed").by, "b");
    assert_eq!(RUNS.get(), 2, "other arguments, another entry");
}

#[tokio::test]
async fn key_self_gives_each_tenant_its_own_entries() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[derive(Clone)]
    struct Prices {
        tenant: String,
    }

    #[methods]
    impl Prices {
        #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true, key_self = self.tenant)]
        async fn price(&self, sku: &str) -> String {
            format!("{}/{sku}/{}", self.tenant, RUNS.tick())
        }
    }

    let acme = Prices {
        tenant: "acme".into(),
    };
    let globex = Prices {
        tenant: "globex".into(),
    };
    assert_eq!(acme.price("A-1").await, "acme/A-1/1");
    assert_eq!(
        globex.price("A-1").await,
        "globex/A-1/2",
        "not acme's entry"
    );
    assert_eq!(
        acme.price("A-1").await,
        "acme/A-1/1",
        "acme's entry is still there"
    );
    let mut keys = entries(&*server);
    keys.sort();
    assert_eq!(
        keys,
        vec![
            r#"rediscache:{methods::Prices::price("acme","A-1")}"#.to_owned(),
            r#"rediscache:{methods::Prices::price("globex","A-1")}"#.to_owned(),
        ],
        "the tenant comes first in the key"
    );
    acme.price_invalidate("A-1").await.expect("redis answers");
    assert_eq!(
        acme.price("A-1").await,
        "acme/A-1/3",
        "acme's entry is gone"
    );
    assert_eq!(globex.price("A-1").await, "globex/A-1/2", "globex's is not");
}

#[tokio::test]
async fn a_background_refresh_owns_a_clone_of_self_that_outlives_the_caller() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[derive(Clone)]
    struct Labeller {
        label: String,
    }

    #[methods]
    impl Labeller {
        #[cache(cache = CACHE, refresh = "1s", expire = 60, wait = true)]
        async fn label(&self) -> String {
            format!("{}{}", self.label, RUNS.tick())
        }
    }

    let keeper = Labeller { label: "a".into() };
    assert_eq!(keeper.label().await, "a1");
    // Let the value age past `refresh`: the clock is what this test is about.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    {
        let passer = Labeller { label: "b".into() };
        assert_eq!(passer.label().await, "a1", "the stale value, at once");
    } // `passer` is gone; its refresh is not.
    assert!(
        eventually_async(SOON, || async { keeper.label().await == "b2" }).await,
        "the refresh ran on the clone of the caller that triggered it"
    );
}

#[tokio::test]
async fn a_trait_impl_method_is_cached_and_its_companions_sit_in_an_inherent_impl() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    trait Store {
        type Error;
        async fn load(&self, id: u64) -> Result<u64, Self::Error>;
    }

    #[derive(Clone)]
    struct Pg;

    #[methods]
    impl Store for Pg {
        type Error = String;

        #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
        async fn load(&self, id: u64) -> Result<u64, Self::Error> {
            Ok(id * 100 + RUNS.tick() as u64)
        }
    }

    async fn through_the_trait(store: &impl Store<Error = String>, id: u64) -> u64 {
        store.load(id).await.expect("computed")
    }

    assert_eq!(through_the_trait(&Pg, 1).await, 101);
    assert_eq!(through_the_trait(&Pg, 1).await, 101, "a hit");
    assert_eq!(
        entries(&*server),
        vec![r#"rediscache:{methods::Pg::load(1)}"#.to_owned()]
    );
    Pg::load_invalidate_all().await.expect("redis answers");
    assert_eq!(through_the_trait(&Pg, 1).await, 102, "every entry a miss");
    assert_eq!(Pg.load_uncached(1).await, Ok(103), "the body, uncached");
    assert_eq!(through_the_trait(&Pg, 1).await, 102, "which stored nothing");
}

#[tokio::test]
async fn an_arc_self_method_shares_its_arc_with_the_refresh() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    // Not `Clone`: the refresh owns a clone of the `Arc`.
    struct Service {
        name: String,
    }

    #[methods]
    impl Service {
        #[cache(cache = CACHE, refresh = "1s", expire = 60, wait = true)]
        async fn describe(self: Arc<Self>, id: u64) -> String {
            format!("{}:{id}:{}", self.name, RUNS.tick())
        }
    }

    let service = Arc::new(Service { name: "s".into() });
    assert_eq!(Arc::clone(&service).describe(1).await, "s:1:1");
    assert_eq!(Arc::clone(&service).describe(1).await, "s:1:1", "a hit");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(Arc::clone(&service).describe(1).await, "s:1:1", "stale");
    assert!(
        eventually_async(SOON, || async {
            Arc::clone(&service).describe(1).await == "s:1:2"
        })
        .await,
        "refreshed in the background"
    );
    assert!(
        eventually(SOON, || Arc::strong_count(&service) == 1),
        "the refresh let go of its clone"
    );
}

#[test]
fn a_sync_method_and_its_companions_need_no_runtime() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[derive(Clone)]
    struct Report {
        prefix: &'static str,
    }

    #[methods]
    impl Report {
        #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
        fn lines(&self, month: &str) -> Vec<String> {
            vec![format!("{}{month}:{}", self.prefix, RUNS.tick())]
        }
    }

    let report = Report { prefix: "r/" };
    assert_eq!(report.lines("11"), ["r/11:1"]);
    assert_eq!(report.lines("11"), ["r/11:1"], "a hit");
    let hit = report
        .lines_get("11")
        .expect("redis answers")
        .expect("cached");
    assert_eq!(hit.value, ["r/11:1"]);
    report
        .lines_set(&vec!["set".to_owned()], "11")
        .expect("redis answers");
    assert_eq!(report.lines("11"), ["set"]);
    assert_eq!(report.lines_refresh("11"), ["r/11:2"]);
    assert_eq!(
        report.lines("11"),
        ["r/11:2"],
        "the refresh stored its value"
    );
    Report::lines_invalidate_all().expect("redis answers");
    assert_eq!(report.lines("11"), ["r/11:3"]);
    assert_eq!(RUNS.get(), 3);
}

#[tokio::test]
async fn invalidate_all_makes_every_entry_a_miss_and_invalidate_only_its_own() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    async fn numbered(x: &str) -> String {
        format!("{x}{}", RUNS.tick())
    }

    assert_eq!(numbered("a").await, "a1");
    assert_eq!(numbered("b").await, "b2");
    numbered_invalidate("a").await.expect("redis answers");
    assert_eq!(numbered("a").await, "a3");
    assert_eq!(numbered("b").await, "b2", "invalidate removes one entry");
    numbered_invalidate_all().await.expect("redis answers");
    assert_eq!(numbered("a").await, "a4", "every entry a miss");
    assert_eq!(numbered("b").await, "b5", "every entry a miss");
    assert_eq!(numbered("b").await, "b5", "and cached again");
}

#[tokio::test]
async fn expire_all_serves_each_entry_stale_once_then_the_refreshed_value() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    static GATE: Gate = Gate::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = 600, expire = 3600, wait = true)]
    async fn version() -> usize {
        let n = RUNS.tick();
        if n > 1 {
            GATE.wait_async().await;
        }
        n
    }

    assert_eq!(soon(version()).await, 1);
    let fresh = version_get().await.expect("redis answers").expect("cached");
    assert_eq!(fresh.freshness, Freshness::Fresh);
    version_expire_all().await.expect("redis answers");
    let stale = version_get()
        .await
        .expect("redis answers")
        .expect("still there");
    assert_eq!((stale.value, stale.freshness), (1, Freshness::Stale));
    assert_eq!(soon(version()).await, 1, "the stale value, at once");
    assert!(
        eventually_async(SOON, || async { RUNS.get() == 2 }).await,
        "one refresh started"
    );
    assert_eq!(soon(version()).await, 1, "still stale while it runs");
    assert_eq!(RUNS.get(), 2, "and only one");
    GATE.open();
    assert!(
        eventually_async(SOON, || async { version().await == 2 }).await,
        "then the refreshed value"
    );
    let refreshed = version_get().await.expect("redis answers").expect("cached");
    assert_eq!(refreshed.freshness, Freshness::Fresh);
}

#[tokio::test]
async fn refresh_recomputes_a_fresh_entry_now_and_stores_it() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = 600, expire = 3600, wait = true)]
    async fn rate(currency: &str) -> Result<String, String> {
        Ok(format!("{currency}{}", RUNS.tick()))
    }

    assert_eq!(rate("EUR").await, Ok("EUR1".into()));
    assert_eq!(rate_refresh("EUR").await, Ok("EUR2".into()), "computed now");
    assert_eq!(rate("EUR").await, Ok("EUR2".into()), "and stored");
    assert_eq!(RUNS.get(), 2);
}

#[tokio::test]
async fn set_primes_an_entry_and_get_peeks_with_its_age_and_freshness() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = 600, expire = 3600, wait = true)]
    async fn user(id: u64) -> Result<User, String> {
        RUNS.tick();
        Ok(User {
            id,
            by: "db".into(),
        })
    }

    assert_eq!(
        user_get(7).await.expect("redis answers"),
        None,
        "nothing yet"
    );
    let primed = User {
        id: 7,
        by: "import".into(),
    };
    user_set(&primed, 7).await.expect("redis answers");
    let peeked = user_get(7).await.expect("redis answers").expect("primed");
    assert_eq!(peeked.value, primed);
    assert_eq!(peeked.freshness, Freshness::Fresh);
    assert!(peeked.age < Duration::from_secs(60), "{:?}", peeked.age);
    assert_eq!(user(7).await, Ok(primed), "a call serves the primed value");
    assert_eq!(
        RUNS.get(),
        0,
        "nothing computed, nothing peeked into running"
    );
    assert_eq!(user_get(8).await.expect("redis answers"), None);
    assert_eq!(RUNS.get(), 0);
}

#[tokio::test]
async fn a_function_handle_of_the_same_name_and_arguments_shares_entries() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    static H: Function = Function::new("x::f");
    static TENANTS: Function = Function::new("x::Tenant::price");
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, name = "x::f", refresh = 600, expire = 3600, wait = true)]
    async fn f(a: &str, b: u64) -> String {
        format!("{a}{b}:{}", RUNS.tick())
    }

    assert_eq!(f("a", 1).await, "a1:1");
    let seen = H
        .get::<String>(&CACHE, ("a", 1u64))
        .await
        .expect("redis answers")
        .expect("the handle sees what f stored");
    assert_eq!(seen.value, "a1:1");
    H.set(&CACHE, ("a", 2u64), &"by handle".to_owned())
        .await
        .expect("redis answers");
    assert_eq!(
        f("a", 2).await,
        "by handle",
        "f serves what the handle stored"
    );
    H.invalidate_all(&CACHE).await.expect("redis answers");
    assert_eq!(
        f("a", 1).await,
        "a1:2",
        "the handle's invalidate_all is f's"
    );

    #[derive(Clone)]
    struct Tenant {
        name: String,
    }

    #[methods]
    impl Tenant {
        #[cache(cache = CACHE, name = "x::Tenant::price", refresh = 600, expire = 3600, wait = true, key_self = self.name)]
        async fn price(&self, sku: &str) -> u64 {
            sku.len() as u64
        }
    }

    let acme = Tenant {
        name: "acme".into(),
    };
    assert_eq!(acme.price("A-1").await, 3);
    let seen = TENANTS
        .get::<u64>(&CACHE, ("acme", "A-1"))
        .await
        .expect("redis answers")
        .expect("key_self is the handle's first argument");
    assert_eq!(seen.value, 3);
}
