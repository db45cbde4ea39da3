//! `wskit serve --redis rediss://...`: Redis over TLS, as managed Redis services require,
//! against a real `redis-server` with TLS (Debian's is built with it; scripts/test.sh installs
//! it) and a certificate of a test CA that SSL_CERT_FILE names.

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use serde_json::json;

mod support;
use support::{Client, Server, http, serve_command, temp_dir};
use wskit_support::redis_server::ping;

/// A `redis-server` with a TLS port (and a plain one, to know when it is up), killed on drop.
struct TlsRedis {
    child: Child,
    tls_port: u16,
}

impl TlsRedis {
    /// Starts it with the certificate and key in `dir` (`server.pem`, `server.key`).
    fn start(dir: &Path) -> Self {
        let plain = free_port();
        let tls_port = free_port();
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &plain.to_string(),
                "--tls-port",
                &tls_port.to_string(),
            ])
            .args(["--bind", "127.0.0.1"])
            .arg("--tls-cert-file")
            .arg(dir.join("server.pem"))
            .arg("--tls-key-file")
            .arg(dir.join("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(dir.join("ca.pem"))
            .args(["--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-server (scripts/test.sh installs it)");
        // Both ports are bound before Redis serves either: once the plain one answers, the
        // TLS one is up too. Redis has no readiness event to wait on: poll, with a deadline.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ping(SocketAddr::from(([127, 0, 0, 1], plain))) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("redis-server with TLS exited: {status} (is it built with TLS?)");
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, tls_port }
    }

    fn url(&self) -> String {
        format!("rediss://localhost:{}", self.tls_port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind a loopback port")
}

/// Writes a test CA (`ca.pem`) and a certificate it signed for localhost and 127.0.0.1
/// (`server.pem`, `server.key`) into `dir`.
fn certificates(dir: &Path) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("a CA key");
    let ca_cert = ca.self_signed(&ca_key).expect("the CA certificate");
    let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server parameters");
    let server_key = KeyPair::generate().expect("a server key");
    let server_cert = server
        .signed_by(&server_key, &ca_cert, &ca_key)
        .expect("the server certificate");
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("write ca.pem");
    std::fs::write(dir.join("server.pem"), server_cert.pem()).expect("write server.pem");
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).expect("write server.key");
}

#[tokio::test]
async fn two_nodes_share_a_redis_over_tls() {
    let dir = temp_dir("redis-tls");
    certificates(&dir);
    let redis = TlsRedis::start(&dir);
    let node = |redis: &TlsRedis| {
        let mut command = serve_command(&["--listen", "127.0.0.1:0", "--redis", &redis.url()]);
        command.env("SSL_CERT_FILE", dir.join("ca.pem"));
        Server::spawn(command)
    };
    let a = node(&redis);
    let b = node(&redis);
    let mut on_b = Client::connect(&b).await;
    // Wait for b's membership to be visible from a: a group send through a reaches it.
    let joined = on_b
        .call(json!({"type": "join", "group": "room", "ref": 1}))
        .await;
    assert_eq!(joined["type"], "ack", "{joined}");
    let sent = http(
        a.addr,
        "POST",
        "/api/groups/room/messages",
        None,
        Some(r#"{"data": "over TLS"}"#),
    )
    .await;
    assert_eq!(sent.status, 200, "{sent:?}");
    let got = on_b.recv().await;
    assert_eq!(got["data"], "over TLS", "{got}");
}

#[test]
fn an_untrusted_redis_certificate_is_refused_at_start_up() {
    let dir = temp_dir("redis-tls-untrusted");
    certificates(&dir);
    let redis = TlsRedis::start(&dir);
    let other = temp_dir("redis-tls-other-ca");
    certificates(&other);
    let mut command = serve_command(&["--listen", "127.0.0.1:0", "--redis", &redis.url()]);
    command
        .env("SSL_CERT_FILE", other.join("ca.pem"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = command.output().expect("run wskit serve");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: --redis rediss://localhost:")
            && stderr.contains("cannot use Redis"),
        "{stderr}"
    );
    let first = BufReader::new(&output.stdout[..]).lines().next();
    assert!(first.is_none(), "no start-up line: {first:?}");
}
