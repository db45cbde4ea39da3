//! WebSocket upgrades inside a hyper 1 server (feature `hyper`).
//!
//! A hyper (or axum) application reads the request head itself; [`upgrade`] validates it with
//! the same rules as [`accept`](crate::accept) (RFC 6455 §4.2.1), answers with the `101
//! Switching Protocols` response for the application to return, and gives a
//! [`PendingUpgrade`] that resolves to a [`WebSocket`] once hyper has sent that response and
//! handed over the connection (`hyper::upgrade::on`).
//!
//! Only HTTP/1.1 upgrades are accepted: WebSocket over HTTP/2 (RFC 8441, extended CONNECT) is
//! answered with `400 Bad Request`. The hyper server must serve its connections with
//! upgrades on (`http1::Builder::serve_connection(..).with_upgrades()`, or hyper-util's
//! `auto::Builder::serve_connection_with_upgrades`).
//!
//! With the feature `axum`, `wskit::axum::WebSocketUpgrade` is the same as an extractor.
//!
//! # Example
//! ```no_run
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper::{Request, Response, body::Incoming};
//!
//! async fn handle(mut req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     let server = wskit::Server::default().protocols(["chat"]);
//!     match wskit::upgrade::upgrade(&mut req, &server) {
//!         Ok((response, pending)) => {
//!             tokio::spawn(async move {
//!                 let mut ws = pending.await?;
//!                 while let Some(msg) = ws.recv().await {
//!                     let msg = msg?;
//!                     if msg.is_text() || msg.is_binary() {
//!                         ws.send(msg).await?;
//!                     }
//!                 }
//!                 Ok::<_, wskit::Error>(())
//!             });
//!             Ok(response)
//!         }
//!         Err(rejection) => Ok(rejection.into()),
//!     }
//! }
//! ```

#[cfg(feature = "axum")]
pub mod axum;

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use http::header::{CONTENT_TYPE, SEC_WEBSOCKET_VERSION, UPGRADE};
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
use hyper::upgrade::OnUpgrade;
use proto::DeflateParams;
use proto::handshake::server::{Accepted, Request};
use proto::handshake::{HandshakeError, Header, Headers};

use crate::config::Config;
use crate::error::Error;
use crate::server::{Decision, Server};
use crate::websocket::WebSocket;

mod transport;

pub use transport::UpgradedIo;

/// A WebSocket over a connection that hyper handed over: over the TCP stream itself when
/// hyper served one (see [`UpgradedIo`]).
pub type UpgradedWebSocket = WebSocket<UpgradedIo>;

/// Validates an upgrade request and builds the `101` response, with `server`'s settings.
///
/// Return the response from the service; the [`PendingUpgrade`] resolves to the
/// [`WebSocket`] once hyper has sent it and handed over the connection, so await it in a
/// spawned task, not before returning the response. The response body is empty: any body
/// type with a [`Default`] fits. `http_body_util::Full<Bytes>`, `axum::body::Body` and
/// `String` also take the text of an [`UpgradeRejection`] (`From<String>`), so one response
/// type serves both outcomes.
///
/// # Errors
/// An [`UpgradeRejection`] to answer with instead: `400` for a request that is not a valid
/// upgrade (no `Upgrade: websocket`, a bad key, HTTP/1.0 or HTTP/2), `405` for a method other
/// than GET, `426` with `Sec-WebSocket-Version: 13` for another version, `426` when hyper
/// cannot upgrade this connection, `500` when one of `server`'s extra headers is not a valid
/// HTTP header.
///
/// # Example
/// ```no_run
/// # use bytes::Bytes;
/// # use http_body_util::Full;
/// # fn run(mut req: hyper::Request<hyper::body::Incoming>) {
/// let server = wskit::Server::default().protocols(["chat"]);
/// let response = match wskit::upgrade::upgrade::<_, Full<Bytes>>(&mut req, &server) {
///     Ok((response, pending)) => {
///         tokio::spawn(async move {
///             if let Ok(mut ws) = pending.await {
///                 let _ = ws.send(wskit::Message::text("hello")).await;
///             }
///         });
///         response
///     }
///     Err(rejection) => rejection.into_response(),
/// };
/// # }
/// ```
pub fn upgrade<B, R>(
    req: &mut http::Request<B>,
    server: &Server,
) -> Result<(http::Response<R>, PendingUpgrade), UpgradeRejection>
where
    R: Default,
{
    upgrade_with(req, server, |_| Decision::Accept(Vec::new()))
}

/// As [`upgrade`], letting `decide` look at the request first (path, origin, credentials) and
/// accept it with extra response headers or reject it.
///
/// # Errors
/// As [`upgrade`]; a [`Decision::Reject`] becomes the rejection, with its status, body and
/// headers (`500` if its status or a header is not valid HTTP).
///
/// # Example
/// ```no_run
/// # use bytes::Bytes;
/// # use http_body_util::Full;
/// # fn run(mut req: hyper::Request<hyper::body::Incoming>) -> hyper::Response<Full<Bytes>> {
/// use wskit::Decision;
/// let server = wskit::Server::default();
/// let result = wskit::upgrade::upgrade_with(&mut req, &server, |request| {
///     if request.headers.get("origin") == Some("https://example.com") {
///         Decision::Accept(vec![("X-Room".into(), "lobby".into())])
///     } else {
///         Decision::Reject { status: 403, body: "forbidden origin".into(), headers: Vec::new() }
///     }
/// });
/// match result {
///     Ok((response, pending)) => {
///         tokio::spawn(pending);
///         response
///     }
///     Err(rejection) => rejection.into(),
/// }
/// # }
/// ```
pub fn upgrade_with<B, R, F>(
    req: &mut http::Request<B>,
    server: &Server,
    decide: F,
) -> Result<(http::Response<R>, PendingUpgrade), UpgradeRejection>
where
    R: Default,
    F: FnOnce(&Request) -> Decision,
{
    let request = handshake_request(req)?;
    let extra = match decide(&request) {
        Decision::Accept(headers) => headers,
        Decision::Reject {
            status,
            body,
            headers,
        } => return Err(UpgradeRejection::decided(status, body, &headers)),
    };
    let mut accept = server.accept_config();
    for (name, value) in extra {
        accept = accept.header(name, value);
    }
    let accepted = accept.accept(&request)?;
    let response = switching_protocols(&accepted)?;
    let on_upgrade = take_on_upgrade(req.extensions_mut())?;
    let pending = PendingUpgrade::new(on_upgrade, server.connection_config().clone(), accepted);
    Ok((response, pending))
}

/// The handshake view of an HTTP/1.x request head: method, target, version and headers, for
/// the validation of [`proto::handshake::server`].
///
/// # Errors
/// A `400` [`UpgradeRejection`] for HTTP/2 and later, which carry WebSocket differently
/// (RFC 8441).
///
/// # Example
/// ```
/// let req = http::Request::get("/chat?room=1")
///     .header("host", "example.com")
///     .body(())
///     .unwrap();
/// let head = wskit::upgrade::handshake_request(&req).unwrap();
/// assert_eq!(head.path(), "/chat");
/// assert_eq!(head.query(), Some("room=1"));
/// assert_eq!(head.headers.get("Host"), Some("example.com"));
/// ```
pub fn handshake_request<B>(req: &http::Request<B>) -> Result<Request, UpgradeRejection> {
    request_head(req.method(), req.uri(), req.version(), req.headers())
}

/// As [`handshake_request`], from the parts of a request (what an axum extractor sees).
///
/// # Errors
/// As [`handshake_request`].
///
/// # Example
/// ```
/// let (parts, ()) = http::Request::get("/chat").body(()).unwrap().into_parts();
/// let head = wskit::upgrade::handshake_request_from_parts(&parts).unwrap();
/// assert_eq!(head.method, "GET");
/// assert_eq!(head.version, 1);
/// ```
pub fn handshake_request_from_parts(
    parts: &http::request::Parts,
) -> Result<Request, UpgradeRejection> {
    request_head(&parts.method, &parts.uri, parts.version, &parts.headers)
}

// ===== PendingUpgrade =====

/// The connection of an accepted upgrade, on its way from hyper: a future of the
/// [`WebSocket`].
///
/// It resolves once hyper has sent the `101` response and given up the connection, so the
/// response must have been returned to hyper first. It fails with [`Error::Io`] if the
/// connection closes before that, or if the server does not serve it with upgrades on.
///
/// # Example
/// ```no_run
/// # async fn run(pending: wskit::upgrade::PendingUpgrade) -> Result<(), wskit::Error> {
/// let mut ws = pending.await?;
/// ws.send(wskit::Message::text("welcome")).await?;
/// # Ok(()) }
/// ```
#[must_use = "the WebSocket is only there once the PendingUpgrade is awaited"]
pub struct PendingUpgrade {
    on_upgrade: OnUpgrade,
    config: Config,
    protocol: Option<String>,
    deflate: Option<DeflateParams>,
}

impl PendingUpgrade {
    fn new(on_upgrade: OnUpgrade, config: Config, accepted: Accepted) -> Self {
        Self {
            on_upgrade,
            config,
            protocol: accepted.protocol,
            deflate: accepted.deflate,
        }
    }

    /// The subprotocol selected in the `101` response, if any.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(pending: wskit::upgrade::PendingUpgrade) {
    /// if pending.protocol() == Some("chat.v2") { /* ... */ }
    /// # }
    /// ```
    #[must_use]
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Whether permessage-deflate was agreed in the `101` response.
    ///
    /// # Example
    /// ```no_run
    /// # fn run(pending: wskit::upgrade::PendingUpgrade) {
    /// println!("compressed: {}", pending.is_compressed());
    /// # }
    /// ```
    #[must_use]
    pub fn is_compressed(&self) -> bool {
        self.deflate.is_some()
    }
}

impl Future for PendingUpgrade {
    type Output = Result<UpgradedWebSocket, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Every field is `Unpin`, so the future is too.
        let this = self.get_mut();
        let upgraded = ready!(Pin::new(&mut this.on_upgrade).poll(cx))
            .map_err(|err| Error::Io(io::Error::other(err)))?;
        let conn = proto::Connection::server(this.config.proto.clone(), this.deflate.take());
        // The bytes hyper read past the request head: hyper's `Upgraded` replays them itself,
        // a stream taken back from it hands them over.
        let (io, read_ahead) = UpgradedIo::from_upgraded(upgraded);
        Poll::Ready(Ok(WebSocket::from_parts(
            io,
            conn,
            BytesMut::from(read_ahead),
            this.config.clone(),
            this.protocol.take(),
        )))
    }
}

impl fmt::Debug for PendingUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingUpgrade")
            .field("protocol", &self.protocol)
            .field("compressed", &self.deflate.is_some())
            .finish_non_exhaustive()
    }
}

// ===== UpgradeRejection =====

/// Why an upgrade request was refused: an HTTP status and a short plain-text body to answer
/// with, in place of the `101`.
///
/// Converts into an `http::Response` (with any body that is `From<String>`) and, with the
/// feature `axum`, is an `IntoResponse`.
///
/// # Example
/// ```
/// let mut req = http::Request::get("/chat").header("host", "x").body(()).unwrap();
/// let rejection = wskit::upgrade::upgrade::<_, String>(&mut req, &wskit::Server::default())
///     .unwrap_err();
/// assert_eq!(rejection.status(), http::StatusCode::BAD_REQUEST);
/// let response: http::Response<String> = rejection.into_response();
/// assert!(response.body().contains("Upgrade"));
/// ```
#[derive(Debug, Clone)]
pub struct UpgradeRejection(Box<Rejected>);

/// The contents of an [`UpgradeRejection`], boxed: the `Err` of every `Result` here stays one
/// pointer wide.
#[derive(Debug, Clone)]
struct Rejected {
    status: StatusCode,
    body: String,
    headers: HeaderMap,
    cause: Option<HandshakeError>,
}

impl UpgradeRejection {
    /// The HTTP status to answer with.
    ///
    /// # Example
    /// ```
    /// # let mut req = http::Request::get("/").header("host", "x").body(()).unwrap();
    /// # let rejection = wskit::upgrade::upgrade::<_, String>(&mut req, &Default::default())
    /// #     .unwrap_err();
    /// assert!(rejection.status().is_client_error());
    /// ```
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The plain-text body.
    ///
    /// # Example
    /// ```
    /// # let mut req = http::Request::get("/").header("host", "x").body(()).unwrap();
    /// # let rejection = wskit::upgrade::upgrade::<_, String>(&mut req, &Default::default())
    /// #     .unwrap_err();
    /// println!("rejected: {}", rejection.body());
    /// ```
    #[must_use]
    pub fn body(&self) -> &str {
        &self.0.body
    }

    /// The headers of the response besides `Content-Type` (`Sec-WebSocket-Version: 13` on a
    /// `426`, those of a [`Decision::Reject`]).
    ///
    /// # Example
    /// ```
    /// let mut req = http::Request::get("/")
    ///     .header("host", "x")
    ///     .header("upgrade", "websocket")
    ///     .header("connection", "upgrade")
    ///     .header("sec-websocket-version", "8")
    ///     .body(())
    ///     .unwrap();
    /// let rejection = wskit::upgrade::upgrade::<_, String>(&mut req, &Default::default())
    ///     .unwrap_err();
    /// assert_eq!(rejection.status(), 426);
    /// assert_eq!(rejection.headers()["sec-websocket-version"], "13");
    /// ```
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.0.headers
    }

    /// The handshake rule the request broke, if that is why it was refused.
    ///
    /// # Example
    /// ```
    /// use wskit::proto::handshake::HandshakeError;
    /// let mut req = http::Request::post("/").body(()).unwrap();
    /// let rejection = wskit::upgrade::upgrade::<_, String>(&mut req, &Default::default())
    ///     .unwrap_err();
    /// assert_eq!(rejection.handshake_error(), Some(&HandshakeError::MethodNotGet));
    /// ```
    #[must_use]
    pub fn handshake_error(&self) -> Option<&HandshakeError> {
        self.0.cause.as_ref()
    }

    /// The response to answer with.
    ///
    /// # Example
    /// ```
    /// # let mut req = http::Request::get("/").header("host", "x").body(()).unwrap();
    /// # let rejection = wskit::upgrade::upgrade::<_, String>(&mut req, &Default::default())
    /// #     .unwrap_err();
    /// let response = rejection.into_response::<String>();
    /// assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
    /// ```
    #[must_use]
    pub fn into_response<B>(self) -> http::Response<B>
    where
        B: From<String>,
    {
        let Rejected {
            status,
            body,
            headers,
            ..
        } = *self.0;
        let mut response = http::Response::new(B::from(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }

    fn new(status: StatusCode, body: impl Into<String>) -> Self {
        Self(Box::new(Rejected {
            status,
            body: body.into(),
            headers: HeaderMap::new(),
            cause: None,
        }))
    }

    /// The rejection of a [`Decision::Reject`]; a status or header that is not valid HTTP
    /// makes it a `500`, since the application got it wrong, not the client.
    fn decided(status: u16, body: String, headers: &[(String, String)]) -> Self {
        let Ok(status) = StatusCode::from_u16(status) else {
            return Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "invalid rejection status",
            );
        };
        match header_map(headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))) {
            Ok(headers) => {
                let mut rejection = Self::new(status, body);
                rejection.0.headers = headers;
                rejection
            }
            Err(rejection) => rejection,
        }
    }
}

impl fmt::Display for UpgradeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "upgrade rejected with {}: {}",
            self.0.status, self.0.body
        )
    }
}

impl StdError for UpgradeRejection {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.cause.as_ref().map(|err| err as _)
    }
}

impl From<HandshakeError> for UpgradeRejection {
    fn from(err: HandshakeError) -> Self {
        let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut rejection = Self::new(status, err.to_string());
        if status == StatusCode::UPGRADE_REQUIRED {
            // RFC 6455 §4.4: name the version we speak.
            let headers = &mut rejection.0.headers;
            headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        }
        rejection.0.cause = Some(err);
        rejection
    }
}

impl<B> From<UpgradeRejection> for http::Response<B>
where
    B: From<String>,
{
    fn from(rejection: UpgradeRejection) -> Self {
        rejection.into_response()
    }
}

// ===== helpers =====

fn request_head(
    method: &Method,
    uri: &Uri,
    version: Version,
    headers: &HeaderMap,
) -> Result<Request, UpgradeRejection> {
    // proto holds the minor version of HTTP/1.x; it refuses 0 (HTTP/1.0) itself.
    let version = match version {
        Version::HTTP_09 | Version::HTTP_10 => 0,
        Version::HTTP_11 => 1,
        _ => {
            return Err(UpgradeRejection::new(
                StatusCode::BAD_REQUEST,
                "WebSocket over HTTP/2 or later (RFC 8441) is not supported: use HTTP/1.1",
            ));
        }
    };
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    Ok(Request {
        method: method.as_str().to_owned(),
        target: target.to_owned(),
        version,
        headers: Headers(
            headers
                .iter()
                .map(|(name, value)| Header {
                    name: name.as_str().to_owned(),
                    value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
                })
                .collect(),
        ),
    })
}

/// The `101` response carrying the header fields of `accepted`.
fn switching_protocols<R: Default>(
    accepted: &Accepted,
) -> Result<http::Response<R>, UpgradeRejection> {
    let fields = accepted.headers();
    let headers = header_map(fields.0.iter().map(|h| (h.name.as_str(), h.value.as_str())))?;
    let mut response = http::Response::new(R::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *response.headers_mut() = headers;
    Ok(response)
}

/// Headers the application configured; one that is not valid HTTP is a `500`.
fn header_map<'a>(
    fields: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<HeaderMap, UpgradeRejection> {
    let mut map = HeaderMap::new();
    for (name, value) in fields {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return Err(UpgradeRejection::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("invalid response header {name:?}"),
            ));
        };
        map.append(name, value);
    }
    Ok(map)
}

/// The hand-over hyper promised for this request, present when it saw an HTTP/1.1 request
/// with an `Upgrade` header on a connection it can give up.
fn take_on_upgrade(extensions: &mut Extensions) -> Result<OnUpgrade, UpgradeRejection> {
    extensions.remove::<OnUpgrade>().ok_or_else(|| {
        UpgradeRejection::new(
            StatusCode::UPGRADE_REQUIRED,
            "this connection cannot be upgraded",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: &str) -> http::Request<()> {
        http::Request::get("/chat?room=1")
            .header("host", "example.com")
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", version)
            .body(())
            .unwrap()
    }

    fn rejection(mut req: http::Request<()>, server: &Server) -> UpgradeRejection {
        upgrade::<_, ()>(&mut req, server).unwrap_err()
    }

    #[test]
    fn validates_like_the_standalone_accept() {
        let server = Server::default();
        let wrong_version = rejection(request("8"), &server);
        assert_eq!(wrong_version.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(wrong_version.headers()[SEC_WEBSOCKET_VERSION], "13");

        let mut no_key = request("13");
        no_key.headers_mut().remove("sec-websocket-key");
        let no_key = rejection(no_key, &server);
        assert_eq!(no_key.status(), StatusCode::BAD_REQUEST);
        assert_eq!(no_key.handshake_error(), Some(&HandshakeError::InvalidKey));

        let mut post = request("13");
        *post.method_mut() = Method::POST;
        assert_eq!(
            rejection(post, &server).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );

        let mut http10 = request("13");
        *http10.version_mut() = Version::HTTP_10;
        assert_eq!(
            rejection(http10, &server).handshake_error(),
            Some(&HandshakeError::HttpVersion)
        );
    }

    #[test]
    fn refuses_http2() {
        let mut req = request("13");
        *req.version_mut() = Version::HTTP_2;
        let rejection = rejection(req, &Server::default());
        assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
        assert!(rejection.body().contains("HTTP/2"), "{}", rejection.body());
    }

    #[test]
    fn valid_request_without_hyper_upgrade_is_refused() {
        // A request that did not come through a hyper connection has nothing to hand over.
        let rejection = rejection(request("13"), &Server::default());
        assert_eq!(rejection.status(), StatusCode::UPGRADE_REQUIRED);
        assert!(rejection.headers().is_empty());
    }

    #[test]
    fn decision_reject_carries_status_and_headers() {
        let mut req = request("13");
        let rejection = upgrade_with::<_, (), _>(&mut req, &Server::default(), |head| {
            assert_eq!(head.path(), "/chat");
            Decision::Reject {
                status: 401,
                body: "log in first".into(),
                headers: vec![("WWW-Authenticate".into(), "Bearer".into())],
            }
        })
        .unwrap_err();
        assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED);
        let response: http::Response<String> = rejection.into();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(response.body(), "log in first");

        let mut req = request("13");
        let bad = upgrade_with::<_, (), _>(&mut req, &Server::default(), |_| Decision::Reject {
            status: 1000,
            body: String::new(),
            headers: Vec::new(),
        })
        .unwrap_err();
        assert_eq!(bad.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn switching_protocols_has_the_negotiated_headers() {
        let (req, ()) = request("13").into_parts();
        let head = request_head(&req.method, &req.uri, req.version, &req.headers).unwrap();
        let accepted = Server::default()
            .protocols(["chat"])
            .header("X-Served-By", "wskit")
            .accept_config()
            .accept(&head)
            .unwrap();
        let response = switching_protocols::<()>(&accepted).unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        let headers = response.headers();
        assert_eq!(
            headers["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(headers["upgrade"], "websocket");
        assert_eq!(headers["x-served-by"], "wskit");
    }

    #[test]
    fn invalid_extra_header_is_a_server_error() {
        let mut req = request("13");
        let server = Server::default().header("bad name", "x");
        let rejection = upgrade::<_, ()>(&mut req, &server).unwrap_err();
        assert_eq!(rejection.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
