//! Accepting WebSocket connections: the server side of the opening handshake over a transport.

use bytes::BytesMut;
use proto::handshake::HandshakeError;
use proto::handshake::server::{AcceptConfig, Request, rejection_response};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::config::Config;
use crate::error::Error;
use crate::websocket::{WebSocket, with_timeout};

/// Accepts a WebSocket connection with the default settings (permessage-deflate accepted, no
/// subprotocols), on any path.
///
/// # Errors
/// [`Error::Handshake`] when the request is not a valid upgrade (the client has been answered
/// with the matching HTTP status), [`Error::Io`] or [`Error::Timeout`].
///
/// # Example
/// ```no_run
/// # async fn run() -> Result<(), wskit::Error> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// let (stream, _) = listener.accept().await?;
/// let mut ws = wskit::accept(stream).await?;
/// while let Some(Ok(msg)) = ws.recv().await {
///     if msg.is_text() || msg.is_binary() {
///         ws.send(msg).await?;
///     }
/// }
/// # Ok(()) }
/// ```
#[doc(alias = "newWebSocket")]
#[doc(alias = "make-server")]
#[doc(alias = "start-connection")]
pub async fn accept<S>(stream: S) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    Server::default().accept(stream).await.map(|(ws, _)| ws)
}

/// What a server accepts: limits, subprotocols, extra response headers.
///
/// # Example
/// ```
/// let server = wskit::Server::default()
///     .protocols(["chat.v2", "chat.v1"])
///     .header("X-Server", "wskit")
///     .config(wskit::Config::default().max_message_size(1 << 20));
/// ```
#[doc(alias = "make-server")]
#[derive(Debug, Clone, Default)]
pub struct Server {
    config: Config,
    protocols: Vec<String>,
    headers: Vec<(String, String)>,
}

/// The decision of an upgrade callback: accept (with extra response headers) or reject.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Accept the upgrade, adding these headers to the `101` response.
    Accept(Vec<(String, String)>),
    /// Reject with this status, body and headers; no upgrade takes place.
    Reject {
        /// The HTTP status.
        status: u16,
        /// A short plain-text body.
        body: String,
        /// Extra headers (`WWW-Authenticate`, say).
        headers: Vec<(String, String)>,
    },
}

impl Server {
    /// Limits and timeouts.
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The subprotocols we speak; the first the client offers is selected.
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

    /// Adds a header to every `101` response.
    #[doc(alias = "additional-headers")]
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Performs the opening handshake on `stream`, returning the connection and the request.
    ///
    /// # Errors
    /// As [`accept`].
    pub async fn accept<S>(&self, stream: S) -> Result<(WebSocket<S>, Request), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.accept_with(stream, |_| Decision::Accept(Vec::new()))
            .await
    }

    /// Performs the opening handshake, letting `decide` look at the request first (path,
    /// origin, credentials) and accept or reject it.
    ///
    /// # Errors
    /// As [`accept`]; a rejection by `decide` is [`Error::Handshake`] with
    /// [`HandshakeError::UnexpectedStatus`] holding the status sent.
    pub async fn accept_with<S, F>(
        &self,
        mut stream: S,
        decide: F,
    ) -> Result<(WebSocket<S>, Request), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        F: FnOnce(&Request) -> Decision,
    {
        let timeout = self.config.io.handshake_timeout;
        with_timeout("handshake", timeout, async {
            let (request, buf) = read_request(&mut stream, &self.config).await?;
            let extra = match decide(&request) {
                Decision::Accept(headers) => headers,
                Decision::Reject {
                    status,
                    body,
                    headers,
                } => return Err(reject(&mut stream, status, &body, &headers).await),
            };
            let ws = self.accept_request(stream, &request, buf, &extra).await?;
            Ok((ws, request))
        })
        .await
    }

    /// Completes the opening handshake for a request already read with [`read_request`]:
    /// validates it, negotiates the subprotocol and permessage-deflate, and writes the `101`
    /// response with the configured headers plus `extra`. `buf` holds the bytes read past the
    /// request head. No timeout applies here; wrap the whole exchange in one.
    ///
    /// # Errors
    /// [`Error::Handshake`] when the request is not a valid upgrade (the client has been
    /// answered with the matching status), [`Error::Io`].
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(mut stream: tokio::net::TcpStream) -> Result<(), wskit::Error> {
    /// let server = wskit::Server::default();
    /// let (request, buf) = wskit::read_request(&mut stream, &wskit::Config::default()).await?;
    /// if request.path() != "/chat" {
    ///     return Err(wskit::reject(&mut stream, 404, "no service here", &[]).await);
    /// }
    /// let ws = server.accept_request(stream, &request, buf, &[]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn accept_request<S>(
        &self,
        mut stream: S,
        request: &Request,
        buf: BytesMut,
        extra: &[(String, String)],
    ) -> Result<WebSocket<S>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut accept = self.accept_config();
        for (name, value) in extra {
            accept = accept.header(name.clone(), value.clone());
        }
        let accepted = match accept.accept(request) {
            Ok(accepted) => accepted,
            Err(err) => {
                let response = rejection_response(err.status(), &err.to_string(), &[]);
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
                return Err(err.into());
            }
        };
        stream.write_all(&accepted.response).await?;
        stream.flush().await?;
        let conn = proto::Connection::server(self.config.proto.clone(), accepted.deflate);
        Ok(WebSocket::from_parts(
            stream,
            conn,
            buf,
            self.config.clone(),
            accepted.protocol,
        ))
    }

    /// Limits and timeouts of the connections this server accepts (`upgrade` hands them on).
    #[cfg(feature = "hyper")]
    pub(crate) fn connection_config(&self) -> &Config {
        &self.config
    }

    /// The handshake settings: our subprotocols, permessage-deflate and the extra headers.
    pub(crate) fn accept_config(&self) -> AcceptConfig {
        let mut accept = AcceptConfig::default()
            .protocols(self.protocols.iter().cloned())
            .deflate(self.config.proto.deflate_config().cloned());
        for (name, value) in &self.headers {
            accept = accept.header(name.clone(), value.clone());
        }
        accept
    }
}

/// Reads the head of an HTTP request from `stream`, up to [`Config::max_handshake_size`];
/// returns it with the bytes that followed it. A malformed or oversized head is answered (400,
/// 431) before the error returns. No timeout applies here; wrap the exchange in one.
///
/// # Errors
/// [`Error::Handshake`] for a malformed or oversized head, [`Error::Io`].
///
/// # Example
/// ```no_run
/// # async fn run(mut stream: tokio::net::TcpStream) -> Result<(), wskit::Error> {
/// let (request, _rest) = wskit::read_request(&mut stream, &wskit::Config::default()).await?;
/// println!("{} {}", request.method, request.path());
/// # Ok(()) }
/// ```
pub async fn read_request<S>(stream: &mut S, config: &Config) -> Result<(Request, BytesMut), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match read_head(stream, config.io.max_handshake_size).await {
        Err(Error::Handshake(err)) => {
            let response = rejection_response(err.status(), &err.to_string(), &[]);
            let _ = stream.write_all(&response).await;
            let _ = stream.shutdown().await;
            Err(err.into())
        }
        other => other,
    }
}

/// Answers a request with `status`, a plain-text `body` and extra `headers`, and shuts the
/// stream down. Returns the error that describes the rejection
/// ([`HandshakeError::UnexpectedStatus`]), or the I/O error if writing failed.
///
/// # Example
/// ```no_run
/// # async fn run(mut stream: tokio::net::TcpStream) {
/// let err = wskit::reject(&mut stream, 403, "origin not allowed", &[]).await;
/// assert_eq!(err.http_status(), Some(403));
/// # }
/// ```
pub async fn reject<S>(
    stream: &mut S,
    status: u16,
    body: &str,
    headers: &[(String, String)],
) -> Error
where
    S: AsyncWrite + Unpin,
{
    let response = rejection_response(status, body, headers);
    if let Err(err) = stream.write_all(&response).await {
        return err.into();
    }
    let _ = stream.shutdown().await;
    HandshakeError::UnexpectedStatus {
        status,
        reason: body.to_owned(),
    }
    .into()
}

/// Reads a request head; returns it with the bytes that followed it.
async fn read_head<S>(stream: &mut S, max_size: usize) -> Result<(Request, BytesMut), Error>
where
    S: AsyncRead + Unpin,
{
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if let Some((request, len)) = Request::parse(&buf)? {
            let _ = buf.split_to(len);
            return Ok((request, buf));
        }
        if buf.len() >= max_size {
            return Err(HandshakeError::HeadersTooLarge.into());
        }
        buf.reserve(1024);
        if tokio::io::AsyncReadExt::read_buf(stream, &mut buf).await? == 0 {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed during the handshake",
            )));
        }
    }
}
