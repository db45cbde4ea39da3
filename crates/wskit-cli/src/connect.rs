//! `wskit connect URL`: a command-line client. Lines on stdin go out as text messages; messages
//! received are printed on stdout.
//!
//! When stdin and stdout are both terminals (on Unix), the session is interactive instead: a
//! `> ` prompt with line editing and history, messages received printed above it as `< text`,
//! and Ctrl-D or Ctrl-C closing the connection (see [`terminal`]). Otherwise the behaviour below
//! holds, byte for byte.
//!
//! Exit status: 0 after a closing handshake we started at the end of stdin, or when the server
//! closes with 1000 or 1001; 1 when the server closes with any other code, the connection
//! breaks or the heartbeat misses a pong; 2 when the connection or the opening handshake fails.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};
use wskit::proto::handshake::HandshakeError;
use wskit::{Beat, Client, CloseCode, CloseFrame, Config, Heartbeat, Message};

#[cfg(unix)]
mod terminal;

/// Options of `wskit connect`.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// The server: `ws://HOST[:PORT]/PATH` or `wss://…`
    url: String,
    /// An extra request header, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// A subprotocol to offer, most preferred first (repeatable).
    #[arg(long = "protocol", short = 'p', value_name = "PROTOCOL")]
    protocols: Vec<String>,
    /// The Origin header.
    #[arg(long)]
    origin: Option<String>,
    /// Send a ping every SECS seconds; close and exit 1 when a pong does not come within that
    /// time.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    ping_interval: Option<Duration>,
    /// A PEM file of extra root certificates to trust for wss://.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Accept any server certificate (for self-signed test servers). Insecure.
    #[arg(long)]
    insecure: bool,
    /// Do not offer permessage-deflate.
    #[arg(long)]
    no_deflate: bool,
    /// Write binary messages to stdout as raw bytes instead of one hex line each (not in the
    /// interactive mode, which always prints hex).
    #[arg(long)]
    binary_raw: bool,
}

/// What the user asked for next.
#[derive(Debug)]
enum Request {
    /// Send this line as a text message.
    Line(String),
    /// Start the closing handshake (end of stdin, Ctrl-D, Ctrl-C).
    End,
}

/// Where [`Request`]s come from.
enum Input {
    /// Lines of a non-interactive stdin.
    Stdin(Lines<BufReader<Stdin>>),
    /// The line editor of the interactive mode.
    #[cfg(unix)]
    Terminal(terminal::Input),
}

/// Where messages received and notices go.
enum Output {
    /// Messages on stdout as they are, notices on stderr.
    Plain,
    /// Printed above the prompt of the interactive mode.
    #[cfg(unix)]
    Terminal(terminal::Output),
}

/// Runs the client on a current-thread runtime and exits with its status.
pub(crate) fn main(args: ConnectArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let code = runtime.block_on(run(args));
    // Not `drop`: that would wait for the blocking stdin read, which may never return.
    runtime.shutdown_background();
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

/// Connects and relays stdin and stdout until the connection ends; returns the exit status.
async fn run(args: ConnectArgs) -> i32 {
    let client = match client(&args) {
        Ok(client) => client,
        Err(err) => {
            eprintln!("error: {err:#}");
            return 2;
        }
    };
    let mut ws = match client.connect().await {
        Ok((ws, _negotiated)) => ws,
        Err(err) => {
            match err.http_status() {
                Some(status) => {
                    let reason = match &err {
                        wskit::Error::Handshake(HandshakeError::UnexpectedStatus {
                            reason,
                            ..
                        }) => reason.as_str(),
                        _ => "",
                    };
                    eprintln!(
                        "error: {}: the server refused the upgrade: HTTP {status} {reason}",
                        args.url
                    );
                }
                None => eprintln!("error: {}: {err}", args.url),
            }
            return 2;
        }
    };
    #[cfg(unix)]
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        return terminal::session(ws, &args).await;
    }
    let mut input = Input::Stdin(BufReader::new(tokio::io::stdin()).lines());
    exit_status(relay(&mut ws, &args, &mut input, &mut Output::Plain).await)
}

/// The exit status for the end of a [`relay`], reporting its error on stderr.
fn exit_status(relayed: anyhow::Result<i32>) -> i32 {
    relayed.unwrap_or_else(|err| {
        eprintln!("error: {err:#}");
        1
    })
}

/// The client for the command-line options.
fn client(args: &ConnectArgs) -> anyhow::Result<Client> {
    let deflate = (!args.no_deflate).then(wskit::DeflateConfig::default);
    let mut client = Client::new(&args.url)
        .config(Config::default().deflate(deflate))
        .protocols(args.protocols.iter().cloned());
    for (name, value) in &args.headers {
        client = client.header(name, value);
    }
    if let Some(origin) = &args.origin {
        client = client.header("Origin", origin);
    }
    if let Some(path) = &args.ca_file {
        for cert in wskit::tls::load_certs(path)? {
            client = client.add_root_certificate(cert);
        }
    }
    if args.insecure {
        eprintln!(
            "warning: --insecure: the server certificate is not verified; anyone on the path \
             can read and change this connection"
        );
        client = client.tls_config(insecure_tls_config()?);
    }
    Ok(client)
}

/// Sends input lines, prints messages, runs the heartbeat; returns the exit status.
async fn relay(
    ws: &mut wskit::WebSocket<wskit::MaybeTlsStream>,
    args: &ConnectArgs,
    input: &mut Input,
    output: &mut Output,
) -> anyhow::Result<i32> {
    let mut stdin_open = true;
    let mut heartbeat = args.ping_interval.map(Heartbeat::new);
    // Set once a close frame went out or came in: the status to exit with.
    let mut exit_code: Option<i32> = None;
    loop {
        tokio::select! {
            request = input.next(), if stdin_open => match request? {
                Request::Line(line) => ws.send(Message::text(line)).await.context("sending")?,
                Request::End => {
                    // End of input: start the closing handshake, keep printing what still
                    // arrives until the server's close.
                    stdin_open = false;
                    if exit_code.is_none() {
                        let close = CloseFrame::new(CloseCode::NORMAL, "");
                        ws.send(Message::Close(Some(close))).await.context("closing")?;
                        exit_code = Some(0);
                    }
                }
            },
            msg = ws.recv() => match msg {
                None => return Ok(exit_code.unwrap_or(1)),
                Some(Ok(msg)) => {
                    if let Some(code) = handle(msg, heartbeat.as_mut(), output, args, exit_code)? {
                        exit_code = Some(code);
                        stdin_open = false;
                    }
                }
                Some(Err(wskit::Error::AbnormalClose)) => {
                    output.notice("closed: 1006 (the connection dropped without a close frame)")?;
                    return Ok(1);
                }
                Some(Err(err)) => return Err(err).context("receiving"),
            },
            // No pings once closing: the connection would refuse them.
            beat = tick(heartbeat.as_mut()), if exit_code.is_none() => match beat {
                Beat::Ping(payload) => ws.ping(payload).await.context("sending a ping")?,
                Beat::Missed => {
                    let timeout = args.ping_interval.unwrap_or_default();
                    let secs = timeout.as_secs_f64();
                    output.notice(&format!("error: no pong within {secs}s; closing"))?;
                    let _ = ws.close(CloseCode::GOING_AWAY, "no pong").await;
                    return Ok(1);
                }
            },
        }
    }
}

/// Prints a message or notes a pong; returns the exit status once the server's close came.
fn handle(
    msg: Message,
    heartbeat: Option<&mut Heartbeat>,
    output: &mut Output,
    args: &ConnectArgs,
    exit_code: Option<i32>,
) -> anyhow::Result<Option<i32>> {
    match msg {
        Message::Text(text) => output.text(&text)?,
        Message::Binary(data) => output.binary(&data, args.binary_raw)?,
        Message::Ping(_) => {}
        Message::Pong(data) => {
            if let Some(heartbeat) = heartbeat {
                heartbeat.pong(&data);
            }
        }
        Message::Close(frame) => {
            if exit_code.is_some() {
                // The answer to our close.
                return Ok(exit_code);
            }
            let code = frame.as_ref().map_or(CloseCode::NO_STATUS, |f| f.code);
            let reason = frame.as_ref().map_or("", |f| f.reason.as_str());
            output.notice(&format!("closed: {code} {reason}"))?;
            let ok = code == CloseCode::NORMAL || code == CloseCode::GOING_AWAY;
            return Ok(Some(if ok { 0 } else { 1 }));
        }
    }
    Ok(None)
}

/// The heartbeat's next beat, or never without one.
async fn tick(heartbeat: Option<&mut Heartbeat>) -> Beat {
    match heartbeat {
        Some(heartbeat) => heartbeat.tick().await,
        None => std::future::pending().await,
    }
}

/// Lower-case hex, two digits a byte.
fn hex(data: &[u8]) -> String {
    let mut hex = String::with_capacity(data.len() * 2);
    for byte in data {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
}

/// `Name: value` → (name, value).
fn parse_header(header: &str) -> Result<(String, String), String> {
    let (name, value) = header
        .split_once(':')
        .ok_or_else(|| format!("expected `Name: value`, got `{header}`"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("empty header name in `{header}`"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// Seconds, fractions allowed, more than zero.
fn parse_seconds(secs: &str) -> Result<Duration, String> {
    let secs: f64 = secs.parse().map_err(|e| format!("{secs}: {e}"))?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{secs}: expected a positive number of seconds"))
}

/// A rustls client configuration that accepts any server certificate (signatures on the
/// handshake are still checked, so the server must hold the key of the certificate it sent).
fn insecure_tls_config() -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A certificate verifier for `--insecure`: trusts every certificate chain and name.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

// ===== impl Input =====

impl Input {
    /// The next request; [`Request::End`] at the end of input.
    async fn next(&mut self) -> anyhow::Result<Request> {
        match self {
            Self::Stdin(lines) => Ok(match lines.next_line().await.context("reading stdin")? {
                Some(line) => Request::Line(line),
                None => Request::End,
            }),
            #[cfg(unix)]
            Self::Terminal(input) => Ok(input.next().await),
        }
    }
}

// ===== impl Output =====

impl Output {
    /// Prints a text message.
    fn text(&mut self, text: &str) -> anyhow::Result<()> {
        match self {
            Self::Plain => {
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "{text}")?;
                stdout.flush()?;
            }
            #[cfg(unix)]
            Self::Terminal(out) => out.print(format!("< {text}"))?,
        }
        Ok(())
    }

    /// Prints a binary message: one line of hex, or the raw bytes with `raw` (plain only).
    fn binary(&mut self, data: &[u8], raw: bool) -> anyhow::Result<()> {
        match self {
            Self::Plain => {
                let mut stdout = std::io::stdout().lock();
                if raw {
                    stdout.write_all(data)?;
                } else {
                    writeln!(stdout, "{}", hex(data))?;
                }
                stdout.flush()?;
            }
            #[cfg(unix)]
            Self::Terminal(out) => out.print(format!("< {}", hex(data)))?,
        }
        Ok(())
    }

    /// Prints a notice about the connection (closed, errors): on stderr, or above the prompt.
    fn notice(&mut self, notice: &str) -> anyhow::Result<()> {
        match self {
            Self::Plain => eprintln!("{notice}"),
            #[cfg(unix)]
            Self::Terminal(out) => out.print(notice.to_owned())?,
        }
        Ok(())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_seconds_parse() {
        assert_eq!(
            parse_header("Authorization:  Bearer a:b "),
            Ok(("Authorization".to_owned(), "Bearer a:b".to_owned()))
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header(": value").is_err());
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
}
