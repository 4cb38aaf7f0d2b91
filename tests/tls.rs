//! TLS: `rediss://` with a private certificate authority and a client certificate, against a
//! `redis-server` started with `--tls-port` and certificates generated with `openssl` (testkit's
//! `Pki` and `TlsServer`).

use std::path::Path;
use std::time::Duration;

use rediscache::{Error, RedisCache, cache};
use testkit::*;

#[tokio::test]
async fn rediss_with_a_private_ca_a_client_certificate_and_an_acl_user() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let pki = Pki::new();
    let server = TlsServer::start(&pki, true);
    // An ACL user of its own, and the default user switched off, so only `app` can work.
    assert_eq!(
        server
            .cli(
                &pki,
                &[
                    "ACL", "SETUSER", "app", "on", ">s3cret", "~*", "&*", "+@all"
                ]
            )
            .trim(),
        "OK"
    );
    assert_eq!(
        server
            .cli(&pki, &["ACL", "SETUSER", "default", "off"])
            .trim(),
        "OK"
    );
    let url = format!("rediss://app:s3cret@127.0.0.1:{}/0", server.port);
    CACHE.set(
        RedisCache::builder()
            .url(url)
            .tls_ca_file(pki.path("ca.crt"))
            .tls_client_cert(pki.path("client.crt"), pki.path("client.key"))
            .build()
            .unwrap(),
    );

    #[cache(cache = CACHE, refresh = 60, expire = 120, wait = true)]
    async fn square(x: u64) -> u64 {
        RUNS.tick();
        x * x
    }

    CACHE
        .ping()
        .await
        .expect("TLS handshake with the private CA and client cert");
    assert_eq!(square(12).await, 144);
    assert_eq!(square(12).await, 144);
    assert_eq!(RUNS.get(), 1, "the second call was a hit over TLS");

    // A sync hit's blocking connection speaks TLS with the same certificates and user.
    #[cache(cache = CACHE, refresh = 60, expire = 120, wait = true)]
    fn cube(x: u64) -> u64 {
        RUNS.tick();
        x * x * x
    }
    let sync_calls = tokio::task::spawn_blocking(|| [cube(3), cube(3)]);
    assert_eq!(sync_calls.await.unwrap(), [27, 27]);
    assert_eq!(RUNS.get(), 2, "the second sync call was a hit over TLS");
    let s = CACHE.stats().await.unwrap();
    assert_eq!((s.missed, s.success, s.errors), (2, 2, 0));
}

#[tokio::test]
async fn an_untrusted_server_or_a_missing_client_certificate_degrades_and_shows_in_ping() {
    static UNTRUSTED: Slot<RedisCache> = Slot::new();
    static NO_CLIENT_CERT: Slot<RedisCache> = Slot::new();
    let pki = Pki::new();
    let server = TlsServer::start(&pki, true);
    let timeout = Duration::from_millis(500);
    // The system roots do not know our CA.
    UNTRUSTED.set(
        RedisCache::builder()
            .url(server.url())
            .timeout(timeout)
            .build()
            .unwrap(),
    );
    NO_CLIENT_CERT.set(
        RedisCache::builder()
            .url(server.url())
            .tls_ca_file(pki.path("ca.crt"))
            .timeout(timeout)
            .build()
            .unwrap(),
    );

    #[cache(cache = UNTRUSTED, refresh = 60, expire = 120, wait = true)]
    async fn via_untrusted(x: u64) -> u64 {
        x + 1
    }
    #[cache(cache = NO_CLIENT_CERT, refresh = 60, expire = 120, wait = true)]
    async fn via_no_client_cert(x: u64) -> u64 {
        x + 2
    }

    assert_eq!(
        soon(via_untrusted(1)).await,
        2,
        "the function's value, not an error"
    );
    assert_eq!(soon(via_no_client_cert(1)).await, 3);
    assert!(
        UNTRUSTED.ping().await.is_err(),
        "the health check shows the TLS problem"
    );
    assert!(NO_CLIENT_CERT.ping().await.is_err());
}

#[test]
fn unreadable_certificate_files_are_configuration_errors() {
    let missing = Path::new("/nonexistent/ca.crt");
    let err = RedisCache::builder()
        .url("rediss://127.0.0.1:6380/0")
        .tls_ca_file(missing)
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config { setting, .. } if setting == "tls_ca_file"),
        "{err}"
    );
    assert!(err.to_string().contains("/nonexistent/ca.crt"), "{err}");
    let err = RedisCache::builder()
        .url("rediss://127.0.0.1:6380/0")
        .tls_client_cert(missing, missing)
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config { setting, .. } if setting == "tls_client_cert"),
        "{err}"
    );
}

/// The local tier's tracking connection speaks TLS with the same certificates and ACL user,
/// and a change made by another client reaches the copy in memory.
#[cfg(feature = "local")]
#[tokio::test]
async fn the_local_tier_tracks_over_tls_with_an_acl_user() {
    use rediscache::{Local, LocalState};
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let pki = Pki::new();
    let server = TlsServer::start(&pki, true);
    let acl = [
        "ACL", "SETUSER", "app", "on", ">s3cret", "~*", "&*", "+@all",
    ];
    assert_eq!(server.cli(&pki, &acl).trim(), "OK");
    let url = format!("rediss://app:s3cret@127.0.0.1:{}/0", server.port);
    CACHE.set(
        RedisCache::builder()
            .url(url)
            .prefix("tlslocal")
            .tls_ca_file(pki.path("ca.crt"))
            .tls_client_cert(pki.path("client.crt"), pki.path("client.key"))
            .local(Local::new())
            .build()
            .unwrap(),
    );

    #[cache(cache = CACHE, name = "tls::double", refresh = 60, expire = 120, wait = true)]
    async fn double(x: u64) -> u64 {
        RUNS.tick();
        x * 2 + RUNS.get() as u64 * 1000
    }

    assert_eq!(double(4).await, 1008);
    let cache = CACHE.get().unwrap();
    assert!(
        eventually(SOON, || cache
            .local_status()
            .is_some_and(|s| s.state == LocalState::Live)),
        "tracking over TLS: {:?}",
        cache.local_status()
    );
    // One call fills memory, the next are served from it.
    for _ in 0..10 {
        assert_eq!(double(4).await, 1008);
    }
    let stats = cache.stats().await.unwrap();
    assert!(stats.local_hits >= 9, "{stats:?}");
    server.cli(&pki, &["DEL", "tlslocal:{tls::double(4)}"]);
    assert!(
        eventually_async(SOON, || async { double(4).await == 2008 }).await,
        "the delete reached memory over TLS"
    );
}
