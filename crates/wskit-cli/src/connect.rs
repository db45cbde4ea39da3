//! `wskit connect URL`: a command-line client. Lines on stdin go out as text messages (binary
//! with `--binary`); messages received are printed on stdout.
//!
//! When stdin and stdout are both terminals (on Unix), the session is interactive instead: a
//! `> ` prompt with line editing and history, messages received printed above it as `< text`,
//! the commands of [`command`] (`/ping`, `/close CODE REASON`), and Ctrl-D or Ctrl-C closing
//! the connection (see [`terminal`]). Otherwise the behaviour below holds, byte for byte.
//!
//! Exit status: see [`EXIT_STATUS`].

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use clap::Args;
use tokio::io::{AsyncBufReadExt, BufReader, Stdin};
use wskit::proto::handshake::HandshakeError;
use wskit::{Beat, Client, CloseCode, CloseFrame, Config, Heartbeat, Message};

mod command;
#[cfg(unix)]
mod terminal;
mod tls;

/// The exit statuses of `wskit connect`, for `--help`.
const EXIT_STATUS: &str = "\
Exit status:
  0  the connection closed cleanly: after the end of stdin (or Ctrl-D, Ctrl-C, /close), or the
     server closed with 1000 or 1001
  1  the server closed with another code, the connection broke, a pong did not come in time,
     or stdin could not be read or sent
  2  the connection or the opening handshake failed (refused, TLS, HTTP status), or a usage
     error

In the interactive mode: /ping [DATA], /close [CODE [REASON]], /help; // sends a line
beginning with /.";

/// Options of `wskit connect`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_STATUS)]
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
    /// Send a ping this often (5s, 500ms; a bare number is seconds); close and exit 1 when a
    /// pong does not come within that time.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    ping_interval: Option<Duration>,
    /// Send lines (from stdin or typed) and --file contents as binary messages, not text.
    #[arg(long, short = 'b')]
    binary: bool,
    /// Send this file's content as one message (text, which must then be UTF-8, or binary
    /// with --binary) before reading stdin (repeatable, in order).
    #[arg(long = "file", short = 'f', value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Stay open after stdin ends, printing what arrives until the server closes (or Ctrl-C).
    #[arg(long)]
    no_close: bool,
    /// Connect through this HTTP proxy (`http://[USER:PASSWORD@]HOST[:PORT]`, a CONNECT
    /// tunnel).
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
    /// A PEM file of extra root certificates to trust for wss://. A certificate in it that
    /// the server presents exactly is trusted as it is (a self-signed server certificate).
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// A PEM client certificate chain to present to a server that asks for one (needs
    /// --key).
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<PathBuf>,
    /// The PEM private key of --cert.
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,
    /// Accept any server certificate (for self-signed test servers). Insecure.
    #[arg(long, short = 'k')]
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
    /// Send this as a message: text (it must be UTF-8), or binary with `--binary`.
    Data(Vec<u8>),
    /// A line typed at the prompt: a message or a [`command`].
    #[cfg_attr(
        not(unix),
        allow(dead_code, reason = "typed lines come from the terminal")
    )]
    Typed(String),
    /// Start the closing handshake (end of stdin, Ctrl-D, Ctrl-C).
    End,
}

/// Where [`Request`]s come from.
enum Input {
    /// Lines of a non-interactive stdin, after the `--file` contents.
    Stdin {
        files: std::vec::IntoIter<PathBuf>,
        lines: BufReader<Stdin>,
    },
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
                None => {
                    let message = err.to_string();
                    eprintln!("error: {}: {message}", args.url);
                    if let Some(hint) = tls::hint(&message) {
                        eprintln!("hint: {hint}");
                    }
                }
            }
            return 2;
        }
    };
    #[cfg(unix)]
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        return terminal::session(ws, &args).await;
    }
    let mut input = Input::Stdin {
        files: args.files.clone().into_iter(),
        lines: BufReader::new(tokio::io::stdin()),
    };
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
    if let Some(proxy) = &args.proxy {
        client = client.proxy(proxy);
    }
    if args.insecure {
        eprintln!(
            "warning: --insecure: the server certificate is not verified; anyone on the path \
             can read and change this connection"
        );
    }
    let settings = tls::Settings {
        ca_file: args.ca_file.as_deref(),
        client_cert: args.cert.as_deref().zip(args.key.as_deref()),
        insecure: args.insecure,
    };
    if let Some(config) = tls::config(&settings)? {
        client = client.tls_config(config);
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
    // Pings sent with /ping, waiting for their pongs.
    let mut pings: Vec<(Bytes, Instant)> = Vec::new();
    // Set once a close frame went out or came in: the status to exit with.
    let mut exit_code: Option<i32> = None;
    loop {
        tokio::select! {
            request = input.next(), if stdin_open => match request? {
                Request::Data(data) => match message(data, args.binary) {
                    Ok(msg) => ws.send(msg).await.context("sending")?,
                    Err(err) => {
                        // Nothing more is sent; what the server still sends is printed.
                        output.notice(&format!("error: {err:#}"))?;
                        stdin_open = false;
                        if exit_code.is_none() {
                            let close = CloseFrame::new(CloseCode::NORMAL, "");
                            ws.send(Message::Close(Some(close))).await.context("closing")?;
                            exit_code = Some(1);
                        }
                    }
                },
                Request::Typed(line) => match command::parse(&line) {
                    command::Command::Send(text) => {
                        ws.send(message(text.into_bytes(), args.binary)?).await.context("sending")?;
                    }
                    command::Command::Ping(payload) => {
                        pings.push((payload.clone(), Instant::now()));
                        ws.ping(payload).await.context("sending a ping")?;
                    }
                    command::Command::Close(code, reason) => {
                        stdin_open = false;
                        if exit_code.is_none() {
                            let close = CloseFrame::new(code, reason);
                            ws.send(Message::Close(Some(close))).await.context("closing")?;
                            exit_code = Some(0);
                        }
                    }
                    command::Command::Show(text) => output.notice(&text)?,
                },
                Request::End => {
                    stdin_open = false;
                    // End of input: start the closing handshake, keep printing what still
                    // arrives until the server's close; with --no-close only the latter (a
                    // terminal's Ctrl-D or Ctrl-C still closes).
                    let keep_open = args.no_close && matches!(input, Input::Stdin { .. });
                    if exit_code.is_none() && !keep_open {
                        let close = CloseFrame::new(CloseCode::NORMAL, "");
                        ws.send(Message::Close(Some(close))).await.context("closing")?;
                        exit_code = Some(0);
                    }
                }
            },
            msg = ws.recv() => match msg {
                None => return Ok(exit_code.unwrap_or(1)),
                Some(Ok(Message::Pong(data))) => {
                    if let Some(heartbeat) = heartbeat.as_mut() {
                        heartbeat.pong(&data);
                    }
                    if let Some(at) = pings.iter().position(|(payload, _)| *payload == data) {
                        let (_, sent) = pings.remove(at);
                        let rtt = sent.elapsed().as_secs_f64() * 1e3;
                        output.notice(&format!("pong {} ({rtt:.1} ms)", printable(&data)))?;
                    }
                }
                Some(Ok(msg)) => {
                    if let Some(code) = handle(msg, output, args, exit_code)? {
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

/// A data message: binary, or text when the bytes are UTF-8.
fn message(data: Vec<u8>, binary: bool) -> anyhow::Result<Message> {
    if binary {
        return Ok(Message::binary(data));
    }
    match String::from_utf8(data) {
        Ok(text) => Ok(Message::text(text)),
        Err(err) => anyhow::bail!(
            "input is not UTF-8 ({}): a text message must be; send it as binary with --binary",
            err.utf8_error()
        ),
    }
}

/// Prints a message; returns the exit status once the server's close came.
fn handle(
    msg: Message,
    output: &mut Output,
    args: &ConnectArgs,
    exit_code: Option<i32>,
) -> anyhow::Result<Option<i32>> {
    match msg {
        Message::Text(text) => output.text(&text)?,
        Message::Binary(data) => output.binary(&data, args.binary_raw)?,
        Message::Ping(_) | Message::Pong(_) => {}
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

/// A ping payload for a notice: as text when it is UTF-8, else hex.
fn printable(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(text) => format!("{text:?}"),
        Err(_) => hex(data),
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

/// A duration with a unit (`5s`, `500ms`, `1m`) or a bare number of seconds (`0.5`), more
/// than zero.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<f64>() {
        Ok(secs) => Duration::try_from_secs_f64(secs).ok(),
        Err(_) => humantime::parse_duration(text).ok(),
    };
    duration
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text}: expected a positive duration (5s, 500ms, 1m, or seconds)"))
}

// ===== impl Input =====

impl Input {
    /// The next request; [`Request::End`] at the end of input.
    async fn next(&mut self) -> anyhow::Result<Request> {
        match self {
            Self::Stdin { files, lines } => {
                if let Some(path) = files.next() {
                    let data = tokio::fs::read(&path)
                        .await
                        .with_context(|| format!("--file {}", path.display()))?;
                    return Ok(Request::Data(data));
                }
                let mut line = Vec::new();
                if lines
                    .read_until(b'\n', &mut line)
                    .await
                    .context("reading stdin")?
                    == 0
                {
                    return Ok(Request::End);
                }
                // As `lines()`: without the `\n` or `\r\n` that ends it.
                if line.last() == Some(&b'\n') {
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                }
                Ok(Request::Data(line))
            }
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
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
}
