//! `wskit connect` options end to end: `--binary` and `--file`, `--no-close`, `--proxy`,
//! `--cert`/`--key`, `-k`, `--ca-file` with a self-signed certificate marked as a CA,
//! durations with units, and the exit statuses in `--help`. The binary runs with stdin and
//! stdout piped, against servers running in this process.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use wskit::{CloseCode, Message, WebSocket};

const WSKIT: &str = env!("CARGO_BIN_EXE_wskit");

/// The longest a run may take before the test calls it hung.
const LIMIT: Duration = Duration::from_secs(20);

/// Runs `wskit connect ARGS` with `stdin`; returns its output (status, stdout, stderr).
fn connect(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(WSKIT)
        .arg("connect")
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wskit connect");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin)
        .expect("write stdin");
    // The child's stdin closes here (dropped above): the end of input.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(LIMIT)
        .expect("wskit connect hung")
        .expect("wait for wskit connect")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A WebSocket server on its own thread and runtime running `serve` on each connection, over
/// TLS when `tls` is given; returns its port.
fn server<F, Fut>(tls: Option<Arc<rustls::ServerConfig>>, serve: F) -> u16
where
    F: Fn(WebSocket<Box<dyn Stream>>) -> Fut + Send + Copy + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the server");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    std::thread::spawn(move || {
        runtime.block_on(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let stream: Box<dyn Stream> = match acceptor {
                        None => Box::new(stream),
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(tls) => Box::new(tls),
                            Err(_) => return,
                        },
                    };
                    if let Ok(ws) = wskit::accept(stream).await {
                        serve(ws).await;
                    }
                });
            }
        });
    });
    port
}

/// A byte stream a test server runs on.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Echoes text and binary messages until the client closes.
async fn echo(mut ws: WebSocket<Box<dyn Stream>>) {
    while let Some(Ok(msg)) = ws.recv().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            return;
        }
    }
}

/// Answers each message with a text line naming its kind: `text:...` or `binary:HEX`.
async fn describe(mut ws: WebSocket<Box<dyn Stream>>) {
    while let Some(Ok(msg)) = ws.recv().await {
        let answer = match msg {
            Message::Text(text) => format!("text:{}", text.as_str()),
            Message::Binary(data) => {
                let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
                format!("binary:{hex}")
            }
            _ => continue,
        };
        if ws.send(Message::text(answer)).await.is_err() {
            return;
        }
    }
}

/// A fresh directory under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("wskit-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// A self-signed certificate for localhost marked as a CA, as `openssl req -x509` makes
/// them; writes `NAME.pem` and `NAME.key` into `dir`.
fn ca_flagged_self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned()]).expect("certificate parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().expect("a key");
    let cert = params.self_signed(&key).expect("a certificate");
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, cert.pem()).expect("write the certificate");
    std::fs::write(&key_path, key.serialize_pem()).expect("write the key");
    (cert_path, key_path)
}

/// A server configuration from PEM files, asking clients for a certificate signed by
/// `client_ca` when given.
fn server_tls(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("read the certificate")
        .collect::<Result<_, _>>()
        .expect("a certificate");
    let key = PrivateKeyDer::from_pem_file(key).expect("read the key");
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("protocol versions");
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca).expect("read the client CA") {
                roots.add(cert.expect("a certificate")).expect("a root");
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("a client verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    Arc::new(
        builder
            .with_single_cert(chain, key)
            .expect("the certificate and its key"),
    )
}

#[test]
fn binary_sends_lines_and_files_as_binary_messages() {
    let port = server(None, describe);
    let url = format!("ws://127.0.0.1:{port}/");
    let dir = temp_dir("connect-binary");
    let file = dir.join("data.bin");
    std::fs::write(&file, [0xff, 0x00, b'\n', 0x80]).expect("write the file");
    let file = file.to_str().expect("a UTF-8 path");

    let run = connect(&[&url, "-b", "--file", file], b"ab\n\xfe\n");
    assert!(run.status.success(), "{run:?}");
    assert_eq!(
        text(&run.stdout),
        "binary:ff000a80\nbinary:6162\nbinary:fe\n"
    );

    // Without --binary, lines are text; input that is not UTF-8 is refused with the way out.
    let run = connect(&[&url], b"plain\n\xfe\n");
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert_eq!(text(&run.stdout), "text:plain\n");
    let stderr = text(&run.stderr);
    assert!(
        stderr.starts_with("error: input is not UTF-8") && stderr.contains("--binary"),
        "{stderr}"
    );
}

#[test]
fn no_close_keeps_the_connection_open_after_stdin_ends() {
    // After the first message, the server waits a while for a close (there must be none
    // with --no-close), then sends a last message and closes.
    let port = server(None, |mut ws| async move {
        let Some(Ok(first)) = ws.recv().await else {
            return;
        };
        let _ = ws.send(first).await;
        match tokio::time::timeout(Duration::from_millis(500), ws.recv()).await {
            Err(_) => {
                let _ = ws.send(Message::text("still there")).await;
                let _ = ws.close(CloseCode::NORMAL, "done").await;
            }
            Ok(_) => {
                let _ = ws.send(Message::text("closed early")).await;
            }
        }
    });
    let url = format!("ws://127.0.0.1:{port}/");
    let run = connect(&[&url, "--no-close"], b"hi\n");
    assert!(run.status.success(), "{run:?}");
    assert_eq!(text(&run.stdout), "hi\nstill there\n", "{run:?}");
    assert!(text(&run.stderr).contains("closed: 1000 done"), "{run:?}");

    // Without it, the end of stdin closes.
    let run = connect(&[&url], b"hi\n");
    assert!(run.status.success(), "{run:?}");
    assert_eq!(text(&run.stdout), "hi\n", "{run:?}");
}

#[test]
fn proxy_tunnels_the_connection() {
    let port = server(None, echo);
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    let proxy_url = format!("http://{}", proxy.local_addr().expect("proxy address"));
    let (requests, requested) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut client, _)) = proxy.accept() else {
            return;
        };
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if client.read(&mut byte).unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
        let _ = requests.send(head);
        let Ok(mut upstream) = std::net::TcpStream::connect(&target) else {
            return;
        };
        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        let (mut client_in, mut upstream_out) = (
            client.try_clone().expect("clone"),
            upstream.try_clone().expect("clone"),
        );
        std::thread::spawn(move || std::io::copy(&mut client_in, &mut upstream_out));
        let _ = std::io::copy(&mut upstream, &mut client);
    });
    let url = format!("ws://127.0.0.1:{port}/");
    let run = connect(&[&url, "--proxy", &proxy_url], b"through\n");
    assert!(run.status.success(), "{run:?}");
    assert_eq!(text(&run.stdout), "through\n");
    let head = requested.recv_timeout(LIMIT).expect("a CONNECT request");
    assert!(
        head.starts_with(&format!("CONNECT 127.0.0.1:{port} HTTP/1.1")),
        "{head}"
    );
}

#[test]
fn ca_file_trusts_a_self_signed_certificate_marked_as_a_ca() {
    let dir = temp_dir("connect-ca-flagged");
    let (cert, key) = ca_flagged_self_signed(&dir, "server");
    let port = server(Some(server_tls(&cert, &key, None)), echo);
    let url = format!("wss://localhost:{port}/");
    let cert = cert.to_str().expect("a UTF-8 path");
    let run = connect(&[&url, "--ca-file", cert], b"trusted\n");
    assert!(run.status.success(), "{run:?}");
    assert_eq!(text(&run.stdout), "trusted\n");

    // Another certificate: refused, and the message says what to do.
    let (other, _) = ca_flagged_self_signed(&dir, "other");
    let run = connect(
        &[&url, "--ca-file", other.to_str().expect("a UTF-8 path")],
        b"never\n",
    );
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains("hint: the server's certificate is not trusted")
            && stderr.contains("--ca-file")
            && !stderr.contains("backtrace"),
        "{stderr}"
    );

    // -k skips the check.
    let run = connect(&[&url, "-k"], b"insecure\n");
    assert!(run.status.success(), "{run:?}");
    assert_eq!(text(&run.stdout), "insecure\n");
    assert!(text(&run.stderr).contains("warning: --insecure"), "{run:?}");
}

#[test]
fn cert_and_key_present_a_client_certificate() {
    let dir = temp_dir("connect-client-cert");
    let (server_cert, server_key) = ca_flagged_self_signed(&dir, "server");
    // A client certificate is an end entity: not marked as a CA.
    let client = rcgen::generate_simple_self_signed(vec!["client".to_owned()])
        .expect("a client certificate");
    let (client_cert, client_key) = (dir.join("client.pem"), dir.join("client.key"));
    std::fs::write(&client_cert, client.cert.pem()).expect("write client.pem");
    std::fs::write(&client_key, client.key_pair.serialize_pem()).expect("write client.key");
    let tls = server_tls(&server_cert, &server_key, Some(&client_cert));
    let port = server(Some(tls), echo);
    let url = format!("wss://localhost:{port}/");
    let ca = server_cert.to_str().expect("a UTF-8 path");
    let run = connect(
        &[
            &url,
            "--ca-file",
            ca,
            "--cert",
            client_cert.to_str().expect("a UTF-8 path"),
            "--key",
            client_key.to_str().expect("a UTF-8 path"),
        ],
        b"with a certificate\n",
    );
    assert!(run.status.success(), "{run:?}");
    assert_eq!(text(&run.stdout), "with a certificate\n");

    // Without one, the server refuses.
    let run = connect(&[&url, "--ca-file", ca], b"without\n");
    assert_ne!(run.status.code(), Some(0), "{run:?}");
    assert!(text(&run.stdout).is_empty(), "{run:?}");
    // --cert needs --key.
    let run = connect(&[&url, "--cert", ca], b"");
    assert_eq!(run.status.code(), Some(2), "{run:?}");
}

#[test]
fn durations_take_units_and_help_lists_the_exit_statuses() {
    let port = server(None, echo);
    let url = format!("ws://127.0.0.1:{port}/");
    for interval in ["50ms", "5s", "0.2"] {
        let run = connect(&[&url, "--ping-interval", interval], b"beat\n");
        assert!(run.status.success(), "{interval}: {run:?}");
        assert_eq!(text(&run.stdout), "beat\n");
    }
    let run = connect(&[&url, "--ping-interval", "soon"], b"");
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert!(
        text(&run.stderr).contains("expected a positive duration"),
        "{run:?}"
    );

    let help = Command::new(WSKIT)
        .args(["connect", "--help"])
        .output()
        .expect("wskit connect --help");
    let help = text(&help.stdout);
    assert!(
        help.contains("Exit status:")
            && help.contains("  0  the connection closed cleanly")
            && help.contains("  1  the server closed with another code")
            && help.contains("  2  the connection or the opening handshake failed"),
        "{help}"
    );
    for flag in [
        "--binary",
        "--no-close",
        "--proxy",
        "--cert",
        "--key",
        "-k, --insecure",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
}
