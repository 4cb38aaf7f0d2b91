//! TLS: a private certificate authority made with `openssl` ([`Pki`]), and a `redis-server` that
//! speaks only TLS with its certificates ([`TlsServer`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::binaries;
use crate::server::free_port;

/// How long a TLS server may take to answer its first `PING`.
const READY_LIMIT: Duration = Duration::from_secs(10);

/// A CA, a server certificate for 127.0.0.1 and a client certificate, in a temp dir that is
/// removed on drop. Files: `ca.crt`, `ca.key`, `server.crt`, `server.key`, `client.crt`,
/// `client.key`.
#[derive(Debug)]
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// Generates the CA and both certificates (RSA 2048, valid for a day).
    pub fn new() -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "rediscache-tls-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let pki = Pki { dir };
        // Extensions make X.509 v3 certificates, the only version rustls accepts.
        std::fs::write(
            pki.path("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .expect("server.ext");
        std::fs::write(pki.path("client.ext"), "extendedKeyUsage=clientAuth\n")
            .expect("client.ext");
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

    /// The path of one of its files (`ca.crt`, `client.key`...).
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// [`path`](Self::path) as a string, for command lines.
    fn s(&self, file: &str) -> String {
        self.path(file)
            .to_str()
            .expect("utf-8 temp path")
            .to_owned()
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

impl Default for Pki {
    fn default() -> Pki {
        Pki::new()
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
        .expect("openssl on PATH (scripts/test installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `redis-server` that speaks only TLS, with a [`Pki`]'s server certificate; killed and
/// reaped on drop.
#[derive(Debug)]
pub struct TlsServer {
    child: Child,
    /// Its TLS port on 127.0.0.1 (it has no plain-text port).
    pub port: u16,
    /// Its own directory, for the log.
    dir: PathBuf,
}

impl TlsServer {
    /// Starts the server and waits (bounded) until it answers `PING` over TLS. With
    /// `check_clients`, it refuses clients without a certificate signed by the CA.
    pub fn start(pki: &Pki, check_clients: bool) -> TlsServer {
        let port = free_port();
        let dir = pki.path(&format!("server-{port}"));
        std::fs::create_dir_all(&dir).expect("server dir");
        let mut cmd = binaries::server();
        cmd.args([
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
        .args(["--logfile", &path_str(&dir.join("redis.log"))])
        .args(["--dir", &path_str(&dir)])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let child = binaries::spawn_server(&mut cmd);
        let mut server = TlsServer { child, port, dir };
        let deadline = Instant::now() + READY_LIMIT;
        while server.cli(pki, &["PING"]).trim() != "PONG" {
            let exited = matches!(server.child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() >= deadline {
                panic!(
                    "the TLS server ({}, built with TLS?) {}; log:\n{}",
                    binaries::server_program(),
                    if exited { "exited" } else { "did not answer" },
                    server.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// `rediss://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/0", self.port)
    }

    /// Runs `redis-cli` over TLS as the default user, with the client certificate; its stdout
    /// (empty if it could not connect).
    pub fn cli(&self, pki: &Pki, args: &[&str]) -> String {
        let out = binaries::cli()
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
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binaries::cli_program()));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The text of its log file.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("utf-8 temp path").to_owned()
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
