//! TLS: `rediss://` with a private certificate authority and a client certificate, against a
//! `redis-server` started with `--tls-port` and certificates generated here with `openssl`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use rediscache::{Error, RedisCache, cache};
use support::*;

/// A CA, a server certificate for 127.0.0.1 and a client certificate, in a temp dir.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "rediscache-tls-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Pki { dir };
        // Extensions make X.509 v3 certificates, the only version rustls accepts.
        std::fs::write(
            pki.path("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        std::fs::write(pki.path("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        pki.openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=rediscache test CA",
            ],
            "ca",
        );
        for name in ["server", "client"] {
            pki.openssl(
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    &format!("/CN={name}"),
                ],
                name,
            );
            let mut sign = vec!["x509", "-req", "-days", "1", "-CAcreateserial"];
            let (csr, ca, ca_key, out, ext_file) = (
                pki.s(&format!("{name}.csr")),
                pki.s("ca.crt"),
                pki.s("ca.key"),
                pki.s(&format!("{name}.crt")),
                pki.s(&format!("{name}.ext")),
            );
            sign.extend([
                "-in", &csr, "-CA", &ca, "-CAkey", &ca_key, "-out", &out, "-extfile", &ext_file,
            ]);
            run_openssl(&sign);
        }
        pki
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    fn s(&self, file: &str) -> String {
        self.path(file).to_str().unwrap().to_owned()
    }

    /// `openssl req` writing `NAME.key` and `NAME.crt` (self-signed) or `NAME.csr`.
    fn openssl(&self, args: &[&str], name: &str) {
        let key = self.s(&format!("{name}.key"));
        let out = if args.contains(&"-x509") {
            self.s(&format!("{name}.crt"))
        } else {
            self.s(&format!("{name}.csr"))
        };
        let mut all = args.to_vec();
        all.extend(["-keyout", &key, "-out", &out]);
        run_openssl(&all);
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl on PATH");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `redis-server` that speaks only TLS.
struct TlsServer {
    child: Child,
    port: u16,
}

impl TlsServer {
    fn start(pki: &Pki, check_clients: bool) -> TlsServer {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args([
                "--tls-cert-file",
                &pki.s("server.crt"),
                "--tls-key-file",
                &pki.s("server.key"),
            ])
            .args(["--tls-ca-cert-file", &pki.s("ca.crt")])
            .args([
                "--tls-auth-clients",
                if check_clients { "yes" } else { "no" },
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        let server = TlsServer { child, port };
        let ready = || server.cli(pki, &["PING"]).trim() == "PONG";
        assert!(
            eventually(Duration::from_secs(10), ready),
            "the TLS server did not come up"
        );
        server
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/0", self.port)
    }

    /// Runs `redis-cli` over TLS as the default user.
    fn cli(&self, pki: &Pki, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args([
                "--tls",
                "--cacert",
                &pki.s("ca.crt"),
                "--cert",
                &pki.s("client.crt"),
                "--key",
                &pki.s("client.key"),
            ])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn rediss_with_a_private_ca_a_client_certificate_and_an_acl_user() {
    static CACHE: OnceLock<RedisCache> = OnceLock::new();
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
    CACHE
        .set(
            RedisCache::builder()
                .url(url)
                .tls_ca_file(pki.path("ca.crt"))
                .tls_client_cert(pki.path("client.crt"), pki.path("client.key"))
                .build()
                .unwrap(),
        )
        .unwrap();

    #[cache(cache = CACHE.get().unwrap(), refresh = 60, expire = 120, wait = true)]
    async fn square(x: u64) -> u64 {
        RUNS.tick();
        x * x
    }

    CACHE
        .get()
        .unwrap()
        .ping()
        .await
        .expect("TLS handshake with the private CA and client cert");
    assert_eq!(square(12).await, 144);
    assert_eq!(square(12).await, 144);
    assert_eq!(RUNS.get(), 1, "the second call was a hit over TLS");

    // A sync hit's blocking connection speaks TLS with the same certificates and user.
    #[cache(cache = CACHE.get().unwrap(), refresh = 60, expire = 120, wait = true)]
    fn cube(x: u64) -> u64 {
        RUNS.tick();
        x * x * x
    }
    let sync_calls = tokio::task::spawn_blocking(|| [cube(3), cube(3)]);
    assert_eq!(sync_calls.await.unwrap(), [27, 27]);
    assert_eq!(RUNS.get(), 2, "the second sync call was a hit over TLS");
    let s = CACHE.get().unwrap().stats().await.unwrap();
    assert_eq!((s.missed, s.success, s.errors), (2, 2, 0));
}

#[tokio::test]
async fn an_untrusted_server_or_a_missing_client_certificate_degrades_and_shows_in_ping() {
    static UNTRUSTED: OnceLock<RedisCache> = OnceLock::new();
    static NO_CLIENT_CERT: OnceLock<RedisCache> = OnceLock::new();
    let pki = Pki::new();
    let server = TlsServer::start(&pki, true);
    let timeout = Duration::from_millis(500);
    // The system roots do not know our CA.
    UNTRUSTED
        .set(
            RedisCache::builder()
                .url(server.url())
                .timeout(timeout)
                .build()
                .unwrap(),
        )
        .unwrap();
    NO_CLIENT_CERT
        .set(
            RedisCache::builder()
                .url(server.url())
                .tls_ca_file(pki.path("ca.crt"))
                .timeout(timeout)
                .build()
                .unwrap(),
        )
        .unwrap();

    #[cache(cache = UNTRUSTED.get().unwrap(), refresh = 60, expire = 120, wait = true)]
    async fn via_untrusted(x: u64) -> u64 {
        x + 1
    }
    #[cache(cache = NO_CLIENT_CERT.get().unwrap(), refresh = 60, expire = 120, wait = true)]
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
        UNTRUSTED.get().unwrap().ping().await.is_err(),
        "the health check shows the TLS problem"
    );
    assert!(NO_CLIENT_CERT.get().unwrap().ping().await.is_err());
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
