//! Connecting to a WebSocket server: URL, TCP, TLS and the client side of the handshake.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use proto::handshake::HandshakeError;
use proto::handshake::client::{ClientHandshake, Negotiated};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::Config;
use crate::error::Error;
use crate::proxy::{self, ProxySetting};
use crate::stream::MaybeTlsStream;
use crate::tls;
use crate::websocket::{WebSocket, with_timeout};

/// Connects to a `ws://` or `wss://` URL with the default settings (permessage-deflate offered,
/// web PKI roots for TLS).
///
/// # Errors
/// [`Error::Url`], [`Error::Io`], [`Error::Tls`], [`Error::Timeout`], or [`Error::Handshake`]
/// when the server refused (with its HTTP status, see [`Error::http_status`]).
///
/// # Example
/// ```no_run
/// # async fn run() -> Result<(), wskit::Error> {
/// let (mut ws, response) = wskit::connect("wss://example.com/socket").await?;
/// println!("subprotocol: {:?}", response.protocol);
/// ws.send(wskit::Message::text("hi")).await?;
/// # Ok(()) }
/// ```
#[doc(alias = "newWebSocket")]
#[doc(alias = "make-client")]
#[doc(alias = "start-connection")]
pub async fn connect(url: &str) -> Result<(WebSocket<MaybeTlsStream>, Negotiated), Error> {
    Client::new(url).connect().await
}

/// A parsed `ws://` or `wss://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// Whether TLS is used (`wss`).
    pub tls: bool,
    /// The host name or IP address (without brackets).
    pub host: String,
    /// The port (explicit or the scheme's default).
    pub port: u16,
    /// The path and query, at least `/`.
    pub target: String,
}

impl WsUrl {
    /// Parses a URL.
    ///
    /// # Errors
    /// [`Error::Url`] naming the problem.
    ///
    /// # Example
    /// ```
    /// let url = wskit::WsUrl::parse("wss://[::1]:8443/chat?room=1").unwrap();
    /// assert_eq!((url.tls, url.host.as_str(), url.port), (true, "::1", 8443));
    /// assert_eq!(url.target, "/chat?room=1");
    /// ```
    pub fn parse(url: &str) -> Result<Self, Error> {
        let uri: http::Uri = url.parse().map_err(|e| Error::Url(format!("{url}: {e}")))?;
        let tls = match uri.scheme_str() {
            Some("ws" | "http") => false,
            Some("wss" | "https") => true,
            _ => return Err(Error::Url(format!("{url}: the scheme must be ws or wss"))),
        };
        let host = uri
            .host()
            .ok_or_else(|| Error::Url(format!("{url}: no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let target = uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        let target = if target.is_empty() {
            "/".to_owned()
        } else {
            target
        };
        Ok(Self {
            tls,
            host,
            port,
            target,
        })
    }

    /// The `Host` header value: the host, bracketed if IPv6, with the port if not default.
    #[must_use]
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// A client builder: URL, subprotocols, headers, TLS, timeouts and limits.
///
/// # Example
/// ```no_run
/// # async fn run() -> Result<(), wskit::Error> {
/// let (ws, negotiated) = wskit::Client::new("ws://127.0.0.1:9001/chat")
///     .protocols(["chat.v1"])
///     .header("Authorization", "Bearer secret")
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[doc(alias = "make-client")]
#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    config: Config,
    protocols: Vec<String>,
    headers: Vec<(String, String)>,
    roots: Vec<CertificateDer<'static>>,
    tls: Option<Arc<rustls::ClientConfig>>,
    connect_timeout: Duration,
    proxy: ProxySetting,
}

impl Client {
    /// A client for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            config: Config::default(),
            protocols: Vec::new(),
            headers: Vec::new(),
            roots: Vec::new(),
            tls: None,
            connect_timeout: Duration::from_secs(10),
            proxy: ProxySetting::Direct,
        }
    }

    /// Limits, timeouts and the permessage-deflate offer.
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Subprotocols to offer, most preferred first; the server's choice must be one of them.
    #[doc(alias = "accept-protocols")]
    #[must_use]
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a request header (`Authorization`, `Origin`, `Cookie`, ...).
    #[doc(alias = "additional-headers")]
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the `Origin` header (RFC 6455 §4.1, item 8), replacing one set before; browsers
    /// send it, and servers that check it reject requests without it. Default: none.
    ///
    /// # Example
    /// ```
    /// let client = wskit::Client::new("wss://example.com/socket").origin("https://example.com");
    /// ```
    #[must_use]
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("origin"));
        self.headers.push(("Origin".to_owned(), origin.into()));
        self
    }

    /// Connects through this HTTP proxy (`http://[user:pass@]host[:port]`, port 80 if left
    /// out) with a `CONNECT` tunnel; user and password, if given, go in a
    /// `Proxy-Authorization: Basic` header. TLS and the handshake then run through the tunnel.
    /// The URL is checked at connect time. Default: no proxy.
    ///
    /// # Example
    /// ```no_run
    /// # async fn run() -> Result<(), wskit::Error> {
    /// let (ws, _) = wskit::Client::new("wss://example.com/socket")
    ///     .proxy("http://user:secret@proxy.internal:3128")
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = ProxySetting::Explicit(url.into());
        self
    }

    /// Connects through the proxy the environment names, read at each connect: `HTTPS_PROXY`
    /// (or `https_proxy`) for `wss://`, `HTTP_PROXY` (or `http_proxy`) for `ws://`, unless the
    /// host is in `NO_PROXY` (or `no_proxy`, see [`NoProxy`](crate::NoProxy)). Default: off;
    /// the environment is read only after this call.
    ///
    /// # Example
    /// ```no_run
    /// # async fn run() -> Result<(), wskit::Error> {
    /// let (ws, _) = wskit::Client::new("wss://example.com/socket")
    ///     .proxy_from_env()
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn proxy_from_env(mut self) -> Self {
        self.proxy = ProxySetting::FromEnv;
        self
    }

    /// Trusts this certificate as a root, in addition to the web PKI roots.
    #[must_use]
    pub fn add_root_certificate(mut self, cert: CertificateDer<'static>) -> Self {
        self.roots.push(cert);
        self
    }

    /// Uses this rustls configuration for `wss://` instead of the default.
    #[must_use]
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// How long the TCP connect (and TLS handshake) may take. Default: 10 s.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connects: TCP (through the proxy tunnel, if one is set), TLS for `wss://`, then the
    /// opening handshake.
    ///
    /// # Errors
    /// As [`connect`]; through a proxy also [`Error::ProxyRefused`] (a non-2xx answer to
    /// `CONNECT`) and [`Error::Proxy`].
    pub async fn connect(&self) -> Result<(WebSocket<MaybeTlsStream>, Negotiated), Error> {
        let url = WsUrl::parse(&self.url)?;
        let stream = with_timeout("connect", self.connect_timeout, async {
            let tcp = proxy::open(&self.proxy, &url).await?;
            tcp.set_nodelay(true)?;
            if !url.tls {
                return Ok(MaybeTlsStream::Plain(tcp));
            }
            let config = match &self.tls {
                Some(config) => config.clone(),
                None => tls::client_config(&self.roots)?,
            };
            let name = ServerName::try_from(url.host.clone())
                .map_err(|e| Error::Tls(format!("{}: {e}", url.host)))?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| Error::Tls(e.to_string()))?;
            Ok(MaybeTlsStream::Tls(Box::new(tls)))
        })
        .await?;
        self.handshake(stream, &url).await
    }

    /// Performs the opening handshake over a transport the caller connected (a proxy tunnel,
    /// a Unix socket, an in-memory pipe).
    ///
    /// # Errors
    /// As [`connect`].
    pub async fn connect_on<S>(&self, stream: S) -> Result<(WebSocket<S>, Negotiated), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let url = WsUrl::parse(&self.url)?;
        self.handshake(stream, &url).await
    }

    async fn handshake<S>(
        &self,
        mut stream: S,
        url: &WsUrl,
    ) -> Result<(WebSocket<S>, Negotiated), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut handshake =
            ClientHandshake::new(url.host_header(), url.target.clone(), rand::random())
                .protocols(self.protocols.iter().cloned())
                .deflate(self.config.proto.deflate_config().cloned());
        for (name, value) in &self.headers {
            handshake = handshake.header(name.clone(), value.clone());
        }
        let max = self.config.io.max_handshake_size;
        with_timeout("handshake", self.config.io.handshake_timeout, async move {
            stream.write_all(&handshake.request()).await?;
            stream.flush().await?;
            let mut buf = BytesMut::with_capacity(1024);
            loop {
                if let Some((negotiated, len)) = handshake.parse_response(&buf)? {
                    let _ = buf.split_to(len);
                    let conn = proto::Connection::client(
                        self.config.proto.clone(),
                        negotiated.deflate,
                        rand::random(),
                    );
                    let ws = WebSocket::from_parts(
                        stream,
                        conn,
                        buf,
                        self.config.clone(),
                        negotiated.protocol.clone(),
                    );
                    return Ok((ws, negotiated));
                }
                if buf.len() >= max {
                    return Err(HandshakeError::HeadersTooLarge.into());
                }
                buf.reserve(1024);
                if stream.read_buf(&mut buf).await? == 0 {
                    return Err(Error::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "connection closed during the handshake",
                    )));
                }
            }
        })
        .await
    }
}
