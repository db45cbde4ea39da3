//! The upgrade request as services see it.
//!
//! Every connection keeps its upgrade request for as long as it lives, so the request is kept
//! as text in one allocation (a hundred-odd bytes for a browser's five or ten headers), not as
//! an `http::HeaderMap` (its table, and a `Bytes` per value: over 700 bytes in nine blocks for a
//! five-header request; and a map taken from hyper shares hyper's 16 KiB read buffer, which it
//! then keeps alive). The map of [`UpgradeRequest::headers`] is built on first use.

use std::fmt;
use std::net::SocketAddr;
use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue};

/// The HTTP request that opened a connection: path, query, headers and the peer's address.
///
/// # Example
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-client", http::HeaderValue::from_static("cli"));
/// let req = wskit_hub::UpgradeRequest::new("/chat?room=1", headers, None);
/// assert_eq!((req.path(), req.query()), ("/chat", Some("room=1")));
/// assert_eq!(req.query_param("room"), Some("1"));
/// assert_eq!(req.header("X-Client"), Some("cli"));
/// ```
#[derive(Clone)]
pub struct UpgradeRequest {
    /// The target, then each header as `name:value`, each line ending in `\n`. Names are
    /// lowercase. Neither a header name nor a value can hold a `\n` (`http` refuses control
    /// characters other than tab), nor a target (a line break in one given to
    /// [`UpgradeRequest::new`] is stored percent-encoded); names hold no `:`.
    head: Box<[u8]>,
    peer_addr: Option<SocketAddr>,
    /// The headers as `http` types, built by the first call to [`UpgradeRequest::headers`].
    map: OnceLock<Box<HeaderMap>>,
}

impl UpgradeRequest {
    /// A request for `target` (path and query). A line break in `target` (which no request
    /// from the wire has) is stored percent-encoded.
    #[must_use]
    pub fn new(
        target: impl Into<String>,
        headers: HeaderMap,
        peer_addr: Option<SocketAddr>,
    ) -> Self {
        Self::from_map(&target.into(), &headers, peer_addr)
    }

    /// A request for `target` with a copy of `headers`.
    pub(crate) fn from_map(
        target: &str,
        headers: &HeaderMap,
        peer_addr: Option<SocketAddr>,
    ) -> Self {
        let lines: usize = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 2)
            .sum();
        let mut head = Head::new(target, lines);
        for (name, value) in headers {
            head.push(name, value.as_bytes());
        }
        head.finish(peer_addr)
    }

    /// Converts a request parsed by the standalone server.
    pub(crate) fn from_wskit(request: &wskit::Request, peer_addr: Option<SocketAddr>) -> Self {
        let lines: usize = request
            .headers
            .0
            .iter()
            .map(|header| header.name.len() + header.value.len() + 2)
            .sum();
        // An absolute-form target (`GET ws://host/chat HTTP/1.1`) is kept as its path and
        // query, as routing sees it.
        let mut head = Head::new(&request.origin_form(), lines);
        for header in &request.headers.0 {
            // httparse already checked names and values; anything http rejects is skipped, as
            // `headers` could not hold it.
            match HeaderName::from_bytes(header.name.as_bytes()) {
                Ok(name) if header.value.bytes().all(is_valid_value_byte) => {
                    head.push(&name, header.value.as_bytes());
                }
                _ => {}
            }
        }
        head.finish(peer_addr)
    }

    /// The target: path and query.
    fn target(&self) -> &str {
        let end = self
            .head
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(self.head.len());
        // Always UTF-8: the target came in as a `&str`.
        std::str::from_utf8(&self.head[..end]).unwrap_or("/")
    }

    /// The header lines: name and raw value, in order.
    fn lines(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.head.split(|&b| b == b'\n').skip(1).filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            // Names are ASCII (HTTP tokens).
            let name = std::str::from_utf8(&line[..colon]).ok()?;
            Some((name, &line[colon + 1..]))
        })
    }

    /// The path, without the query.
    #[must_use]
    pub fn path(&self) -> &str {
        self.target().split('?').next().unwrap_or("/")
    }

    /// The query, without the `?`.
    #[must_use]
    pub fn query(&self) -> Option<&str> {
        self.target().split_once('?').map(|(_, query)| query)
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

    /// The request headers. The map is built on the first call (the request is kept as text;
    /// [`header`](Self::header) reads that without building it).
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        self.map.get_or_init(|| {
            let mut map = HeaderMap::new();
            for (name, value) in self.lines() {
                // Both were valid when stored.
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_bytes(value),
                ) {
                    map.append(name, value);
                }
            }
            Box::new(map)
        })
    }

    /// A header's (first) value as text, if present and visible ASCII, as
    /// `headers().get(name)?.to_str().ok()` (name without case).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        let (_, value) = self
            .lines()
            .find(|(stored, _)| stored.eq_ignore_ascii_case(name))?;
        if !value
            .iter()
            .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            return None;
        }
        std::str::from_utf8(value).ok()
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

impl fmt::Debug for UpgradeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Lines<'a>(&'a UpgradeRequest);
        impl fmt::Debug for Lines<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(
                        self.0
                            .lines()
                            .map(|(name, value)| (name, String::from_utf8_lossy(value))),
                    )
                    .finish()
            }
        }
        f.debug_struct("UpgradeRequest")
            .field("target", &self.target())
            .field("headers", &Lines(self))
            .field("peer_addr", &self.peer_addr)
            .finish()
    }
}

/// [`UpgradeRequest::head`] being written.
struct Head(Vec<u8>);

impl Head {
    /// Starts with `target`; `lines` is the room the header lines will take.
    fn new(target: &str, lines: usize) -> Self {
        let mut head = Vec::with_capacity(target.len() + 1 + lines);
        for &b in target.as_bytes() {
            match b {
                b'\n' => head.extend_from_slice(b"%0A"),
                b'\r' => head.extend_from_slice(b"%0D"),
                _ => head.push(b),
            }
        }
        Self(head)
    }

    /// Adds a header line; `value` must be valid for a `HeaderValue` (no line break).
    fn push(&mut self, name: &HeaderName, value: &[u8]) {
        self.0.push(b'\n');
        self.0.extend_from_slice(name.as_str().as_bytes());
        self.0.push(b':');
        self.0.extend_from_slice(value);
    }

    fn finish(self, peer_addr: Option<SocketAddr>) -> UpgradeRequest {
        UpgradeRequest {
            head: self.0.into_boxed_slice(),
            peer_addr,
            map: OnceLock::new(),
        }
    }
}

/// What `HeaderValue::from_bytes` takes: no control characters but tab.
fn is_valid_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(headers: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for &(name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn headers_come_back_as_given() {
        let given = map(&[
            ("host", b"example.com"),
            ("x-multi", b"one"),
            ("Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
            ("x-multi", b"two"),
            ("x-empty", b""),
            ("x-bytes", b"caf\xc3\xa9 \xff"),
            ("x-colon", b"a:b: c"),
        ]);
        let req = UpgradeRequest::new("/a?b=c", given.clone(), None);
        assert_eq!(req.headers(), &given);
        let values: Vec<_> = req.headers().get_all("x-multi").iter().collect();
        assert_eq!(values, ["one", "two"]);
        assert_eq!(req.header("X-MULTI"), Some("one"));
        assert_eq!(
            req.header("sec-websocket-key"),
            Some("dGhlIHNhbXBsZSBub25jZQ==")
        );
        assert_eq!(req.header("x-empty"), Some(""));
        assert_eq!(req.header("x-colon"), Some("a:b: c"));
        assert_eq!(req.header("x-missing"), None);
        assert_eq!(req.header("not a name"), None);
        // Not visible ASCII: as `HeaderValue::to_str`.
        assert_eq!(req.header("x-bytes"), None);
        assert_eq!(req.headers()["x-bytes"].as_bytes(), b"caf\xc3\xa9 \xff");
        assert_eq!((req.path(), req.query()), ("/a", Some("b=c")));
    }

    #[test]
    fn a_request_from_the_wire_keeps_what_http_takes() {
        let (request, _) = wskit::Request::parse(
            b"GET /chat?room=1&x HTTP/1.1\r\nHost: h\r\nOrigin: https://a.example\r\n\
              X-Bytes: \xc3\xa9\r\nX-Client: cli\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        let peer = "127.0.0.1:9".parse().unwrap();
        let req = UpgradeRequest::from_wskit(&request, Some(peer));
        assert_eq!(req.path(), "/chat");
        assert_eq!(req.query_param("room"), Some("1"));
        assert_eq!(req.query_param("x"), Some(""));
        assert_eq!(req.origin(), Some("https://a.example"));
        assert_eq!(req.header("x-client"), Some("cli"));
        assert_eq!(req.header("x-bytes"), None);
        assert_eq!(req.headers().len(), 4);
        assert_eq!(req.headers()["x-bytes"].as_bytes(), "é".as_bytes());
        assert_eq!(req.peer_addr(), Some(peer));
        let debug = format!("{req:?}");
        assert!(debug.contains(r#""x-client": "cli""#), "{debug}");
    }

    #[test]
    fn line_breaks_in_a_target_are_encoded() {
        let req = UpgradeRequest::new("/a\r\nx-evil:1?q", map(&[("x-good", b"1")]), None);
        assert_eq!(req.path(), "/a%0D%0Ax-evil:1");
        assert_eq!(req.header("x-evil"), None);
        assert_eq!(req.header("x-good"), Some("1"));
        assert_eq!(req.headers().len(), 1);
    }

    /// Every connection keeps one: 64 bytes and one allocation, the text of the request.
    #[test]
    fn a_request_is_small() {
        assert!(
            size_of::<UpgradeRequest>() <= 64,
            "{}",
            size_of::<UpgradeRequest>()
        );
    }
}
