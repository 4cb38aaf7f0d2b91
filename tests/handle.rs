//! `rediscache::Function`, the handle without the macro, on a private `redis-server`: the same
//! algorithm as `#[cache]`, sharing entries with a macro function of the same name and
//! arguments; `get`, `set`, `refresh_now`, `try_*` and the sync twins.

mod common;

use std::time::Duration;

use rediscache::{Freshness, Function, RedisCache, cache};
use testkit::*;

use common::*;

static CACHE: Slot<RedisCache> = Slot::new();
static RUNS: Runs = Runs::new();

/// The handle and the macro function below name the same function.
static PROFILE: Function = Function::new("handle::profile")
    .refresh(Duration::from_secs(60))
    .expire(Duration::from_secs(120));

#[cache(cache = CACHE, name = "handle::profile", refresh = 60, expire = 120, wait = true)]
async fn profile(tenant: &str, id: u64) -> String {
    RUNS.tick();
    format!("macro {tenant}/{id}")
}

static PARSE: Function = Function::new("handle::parse");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_shares_entries_with_the_macro_and_peeks_primes_and_refreshes() {
    let server = RedisServer::start();
    CACHE.set(cache_on(&server));

    // The macro computes; the handle, with the same name and arguments, hits its entry.
    assert_eq!(profile("acme", 7).await, "macro acme/7");
    let got: String = PROFILE
        .get_or_compute(&CACHE, ("acme", 7u64), || async { "handle".to_string() })
        .await;
    assert_eq!(got, "macro acme/7", "the handle hit the macro's entry");
    // And the other way round.
    let got: String = PROFILE
        .get_or_compute(&CACHE, ("beta", 1u64), || async {
            "handle beta/1".to_string()
        })
        .await;
    assert_eq!(got, "handle beta/1");
    assert_eq!(
        profile("beta", 1).await,
        "handle beta/1",
        "the macro hit it"
    );
    assert_eq!(RUNS.get(), 1, "the macro function ran once");

    // get: the value with its age and freshness, or None; nothing counted or computed.
    let hit = PROFILE
        .get::<String>(&CACHE, ("acme", 7u64))
        .await
        .expect("redis answers")
        .expect("cached");
    assert_eq!(hit.value, "macro acme/7");
    assert_eq!(hit.freshness, Freshness::Fresh);
    assert!(hit.age < Duration::from_secs(30), "{:?}", hit.age);
    assert!(
        PROFILE
            .get::<String>(&CACHE, ("nobody", 0u64))
            .await
            .expect("redis answers")
            .is_none()
    );

    // set primes an entry that calls then hit; refresh_now replaces it whatever its age.
    PROFILE
        .set(&CACHE, ("gamma", 3u64), &"primed".to_string())
        .await
        .expect("stored");
    assert_eq!(profile("gamma", 3).await, "primed");
    let refreshed: String = PROFILE
        .refresh_now(&CACHE, ("gamma", 3u64), || async {
            "refreshed".to_string()
        })
        .await;
    assert_eq!(refreshed, "refreshed");
    assert_eq!(profile("gamma", 3).await, "refreshed");
    assert_eq!(RUNS.get(), 1);

    // invalidate through the handle: the macro function computes again.
    PROFILE
        .invalidate(&CACHE, ("acme", 7u64))
        .await
        .expect("invalidated");
    assert_eq!(profile("acme", 7).await, "macro acme/7");
    assert_eq!(RUNS.get(), 2);

    // try_*: an Err goes to its caller and is not stored; Ok is.
    let failed: Result<u64, String> = PARSE
        .try_get_or_compute(&CACHE, ("x",), || async { Err("not a number".to_string()) })
        .await;
    assert_eq!(failed, Err("not a number".to_string()));
    assert!(PARSE.get::<u64>(&CACHE, ("x",)).await.unwrap().is_none());
    let ok: Result<u64, String> = PARSE
        .try_get_or_compute(&CACHE, ("x",), || async { Ok(42) })
        .await;
    assert_eq!(ok, Ok(42));
    let again: Result<u64, String> = PARSE
        .try_get_or_compute(&CACHE, ("x",), || async { Ok(0) })
        .await;
    assert_eq!(again, Ok(42), "a hit");

    // The sync twins, from a thread with no runtime.
    let sync = tokio::task::spawn_blocking(|| {
        let hit: u64 = PARSE.get_or_compute_blocking(&CACHE, ("x",), || 0);
        let fresh: u64 = PARSE.get_or_compute_blocking(&CACHE, ("y",), || 7);
        PARSE
            .invalidate_blocking(&CACHE, ("y",))
            .expect("invalidated");
        let peek = PARSE
            .get_blocking::<u64>(&CACHE, ("y",))
            .expect("redis answers");
        (hit, fresh, peek.is_none())
    });
    assert_eq!(sync.await.unwrap(), (42, 7, true));
}
