//! Configuration: code beats the environment beats defaults; malformed values are errors naming
//! their source; a disabled cache never connects; passwords never show.

use rediscache::{Error, RedisCache, cache};
use testkit::*;

static RUNS: Runs = Runs::new();

/// Uses the default cache: `RedisCache::new()`, configured by the environment.
#[cache(refresh = 10, expire = 60, wait = true)]
fn from_env(x: u32) -> u32 {
    RUNS.tick();
    x * 10
}

#[test]
#[ignore = "run by the parent tests in a child process with a prepared environment"]
fn child_uses_the_environment() {
    let built = RedisCache::new();
    match &built {
        Ok(cache) => {
            let debug = format!("{cache:?}");
            let value = from_env(4);
            let again = from_env(4);
            println!(
                "RESULT ok=1 value={value} again={again} runs={} ping={} leaks={}",
                RUNS.get(),
                cache.ping_blocking().is_ok(),
                debug.contains("s3cret")
            );
        }
        Err(e) => println!("RESULT ok=0 error={}", e.to_string().replace(' ', "_")),
    }
}

#[test]
fn the_environment_names_host_port_db_and_password() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let out = run_child(
        "child_uses_the_environment",
        &[
            ("REDIS_SERVICE_HOST", "127.0.0.1".into()),
            ("REDIS_SERVICE_PORT", server.port.to_string()),
            ("REDIS_SERVICE_DB", "3".into()),
            ("REDIS_SERVICE_PASSWORD", "s3cret".into()),
        ],
    );
    assert_eq!(child_field(&out, "ok"), "1", "{out}");
    assert_eq!(child_field(&out, "value"), "40");
    assert_eq!(child_field(&out, "again"), "40");
    assert_eq!(child_field(&out, "runs"), "1", "the second call was a hit");
    assert_eq!(child_field(&out, "ping"), "true");
    assert_eq!(
        child_field(&out, "leaks"),
        "false",
        "Debug hides the password"
    );
    let keys = server.cli(&["-n", "3", "--scan"]).unwrap();
    assert!(
        keys.contains("config::from_env(4)"),
        "stored in db 3: {keys}"
    );
}

#[test]
fn redis_url_is_accepted_too() {
    let server = RedisServer::start();
    let out = run_child(
        "child_uses_the_environment",
        &[("REDIS_URL", format!("redis://127.0.0.1:{}/5", server.port))],
    );
    assert_eq!(child_field(&out, "value"), "40");
    let keys = server.cli(&["-n", "5", "--scan"]).unwrap();
    assert!(
        keys.contains("config::from_env(4)"),
        "stored in db 5: {keys}"
    );
}

#[test]
fn a_malformed_environment_variable_is_an_error_naming_it() {
    for (var, value) in [
        ("REDIS_SERVICE_PORT", "abc"),
        ("REDIS_SERVICE_DB", "x"),
        ("REDIS_URL", "http://nope"),
    ] {
        let out = run_child("child_uses_the_environment", &[(var, value.into())]);
        assert_eq!(
            child_field(&out, "ok"),
            "0",
            "{var}={value} must be refused"
        );
        assert!(
            child_field(&out, "error").contains(var),
            "the error names {var}: {out}"
        );
    }
}

#[test]
fn code_beats_the_environment() {
    let server = RedisServer::start();
    // The environment points at a port where nothing listens; the builder's port wins.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = RedisCache::builder()
        .host("127.0.0.1")
        .port(server.port)
        .build()
        .unwrap();
    assert!(cache.ping_blocking().is_ok());
    let out = run_child(
        "child_uses_the_environment",
        &[
            ("REDIS_SERVICE_HOST", "127.0.0.1".into()),
            ("REDIS_SERVICE_PORT", dead.to_string()),
        ],
    );
    assert_eq!(
        child_field(&out, "ping"),
        "false",
        "the environment is used when code says nothing"
    );
    assert_eq!(
        child_field(&out, "value"),
        "40",
        "and an unreachable Redis still gives the value"
    );
}

#[test]
fn builder_errors_name_the_setting_and_debug_hides_passwords() {
    let err = RedisCache::builder()
        .url("redis://127.0.0.1:notaport")
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config { setting, .. } if setting == "url"),
        "{err}"
    );
    let err = RedisCache::builder().prefix("a{b}").build().unwrap_err();
    assert!(err.to_string().contains("prefix"), "{err}");
    let builder = RedisCache::builder().url("redis://user:hunter2@127.0.0.1:1/0");
    assert!(!format!("{builder:?}").contains("hunter2"));
    let cache = builder.build().unwrap();
    assert!(!format!("{cache:?}").contains("hunter2"), "{cache:?}");
    let cache = RedisCache::builder()
        .host("127.0.0.1")
        .password("hunter2")
        .build()
        .unwrap();
    assert!(!format!("{cache:?}").contains("hunter2"), "{cache:?}");
}

#[tokio::test]
async fn a_disabled_cache_calls_through_and_never_connects() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static CALLS: Runs = Runs::new();
    CACHE.set(
        RedisCache::builder()
            .url("redis://no-such-host.invalid:1/0")
            .enabled(false)
            .build()
            .expect("not validated when off"),
    );

    #[cache(cache = CACHE, refresh = 10, expire = 60)]
    async fn counted() -> usize {
        CALLS.tick()
    }

    let cache = &*CACHE;
    assert!(!cache.is_enabled());
    assert_eq!(counted().await, 1);
    assert_eq!(
        counted().await,
        2,
        "no default, no cache: the function every time"
    );
    counted_invalidate().await.expect("nothing to invalidate");
    assert!(matches!(cache.stats().await, Err(Error::Disabled)));
    assert!(cache.ping().await.is_err());
}
