//! [`TlsServer`] and [`Pki`] themselves: the server speaks TLS with the private CA's
//! certificate, and with client checks on accepts a client that presents the CA's client
//! certificate and refuses one that presents none.

use std::process::{Command, Stdio};

use rediscache_testkit::{Pki, TlsServer};

/// `redis-cli --tls` trusting the CA but presenting no client certificate.
fn ping_without_client_cert(pki: &Pki, server: &TlsServer) -> String {
    let out = Command::new("redis-cli")
        .arg("--tls")
        .arg("--cacert")
        .arg(pki.path("ca.crt"))
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "PING"])
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn the_pki_writes_a_ca_and_certificates_signed_by_it() {
    let pki = Pki::new();
    for file in [
        "ca.crt",
        "ca.key",
        "server.crt",
        "server.key",
        "client.crt",
        "client.key",
    ] {
        assert!(pki.path(file).exists(), "{file}");
    }
    let verify = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(pki.path("ca.crt"))
        .arg(pki.path("server.crt"))
        .arg(pki.path("client.crt"))
        .output()
        .expect("openssl runs");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let dir = pki.path("");
    drop(pki);
    assert!(!dir.exists(), "removed on drop");
}

#[test]
fn a_tls_server_accepts_a_client_certificate_and_refuses_a_client_without_one() {
    let pki = Pki::new();
    let server = TlsServer::start(&pki, true);
    assert_eq!(
        server.url(),
        format!("rediss://127.0.0.1:{}/0", server.port)
    );
    assert_eq!(server.cli(&pki, &["PING"]).trim(), "PONG");
    assert_ne!(
        ping_without_client_cert(&pki, &server),
        "PONG",
        "no client certificate, no answer"
    );
    let plain = redis::Client::open(format!("redis://127.0.0.1:{}/0", server.port))
        .unwrap()
        .get_connection()
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
    assert!(plain.is_err(), "no plain-text answer: {plain:?}");
}

#[test]
fn without_client_checks_a_client_without_a_certificate_gets_in() {
    let pki = Pki::new();
    let server = TlsServer::start(&pki, false);
    assert_eq!(ping_without_client_cert(&pki, &server), "PONG");
}
