//! The upgrade request as services see it.

use std::net::SocketAddr;

use http::{HeaderMap, HeaderName, HeaderValue};

/// The HTTP request that opened a connection: path, query, headers and the peer's address.
///
/// # Example
/// ```
/// let req = wskit_hub::UpgradeRequest::new("/chat?room=1", http::HeaderMap::new(), None);
/// assert_eq!((req.path(), req.query()), ("/chat", Some("room=1")));
/// assert_eq!(req.query_param("room"), Some("1"));
/// ```
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    target: String,
    headers: HeaderMap,
    peer_addr: Option<SocketAddr>,
}

impl UpgradeRequest {
    /// A request for `target` (path and query).
    #[must_use]
    pub fn new(
        target: impl Into<String>,
        headers: HeaderMap,
        peer_addr: Option<SocketAddr>,
    ) -> Self {
        Self {
            target: target.into(),
            headers,
            peer_addr,
        }
    }

    /// Converts a request parsed by the standalone server.
    pub(crate) fn from_wskit(request: &wskit::Request, peer_addr: Option<SocketAddr>) -> Self {
        let mut headers = HeaderMap::with_capacity(request.headers.0.len());
        for header in &request.headers.0 {
            // httparse already checked names and values; anything http rejects is skipped.
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(header.name.as_bytes()),
                HeaderValue::from_str(&header.value),
            ) {
                headers.append(name, value);
            }
        }
        Self::new(request.target.clone(), headers, peer_addr)
    }

    /// The path, without the query.
    #[must_use]
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("/")
    }

    /// The query, without the `?`.
    #[must_use]
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// The first value of query parameter `name` (not percent-decoded).
    #[must_use]
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query()?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// The request headers.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header's value as text, if present and valid.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The `Origin` header.
    #[must_use]
    pub fn origin(&self) -> Option<&str> {
        self.header("origin")
    }

    /// The peer's address, when known.
    #[must_use]
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }
}
