//! HTTP proxies: a tunnel opened with `CONNECT host:port` (RFC 9110 §9.3.6), through which
//! TLS (for `wss://`) and the WebSocket handshake then run unchanged.
//!
//! A [`Client`](crate::Client) uses a proxy set with [`Client::proxy`](crate::Client::proxy),
//! or, after [`Client::proxy_from_env`](crate::Client::proxy_from_env), the one the
//! environment names (`HTTPS_PROXY` for `wss://`, `HTTP_PROXY` for `ws://`) unless the host is
//! listed in `NO_PROXY` ([`NoProxy`]). Without either, no proxy is used and the environment
//! is not read.

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::WsUrl;
use crate::error::Error;

/// Which proxy a [`Client`](crate::Client) uses.
#[derive(Debug, Clone, Default)]
pub(crate) enum ProxySetting {
    /// Connect directly. The default.
    #[default]
    Direct,
    /// Always this proxy URL.
    Explicit(String),
    /// The proxy the environment names, at connect time.
    FromEnv,
}

/// A `NO_PROXY` list: the hosts reached directly even when a proxy is set from the
/// environment.
///
/// The list is comma-separated. `*` matches every host. Any other entry matches that host and
/// every subdomain of it (`example.com` and `.example.com` both match `example.com` and
/// `api.example.com`, not `badexample.com`). Matching ignores case, a leading `*.`, and
/// brackets around IPv6 addresses. IP ranges (CIDR) are not supported: an IP entry matches
/// that address only.
///
/// # Example
/// ```
/// use wskit::NoProxy;
///
/// let no_proxy = NoProxy::parse("localhost, .internal.example, 10.0.0.1");
/// assert!(no_proxy.matches("localhost"));
/// assert!(no_proxy.matches("API.internal.example"));
/// assert!(!no_proxy.matches("example.com"));
/// assert!(NoProxy::parse("*").matches("anything"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    everything: bool,
    suffixes: Vec<String>,
}

impl NoProxy {
    /// Parses a comma-separated list (the value of `NO_PROXY`).
    #[must_use]
    pub fn parse(list: &str) -> Self {
        let mut no_proxy = Self::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                no_proxy.everything = true;
                continue;
            }
            let entry = entry.trim_start_matches("*.").trim_start_matches('.');
            let entry = entry.trim_start_matches('[').trim_end_matches(']');
            no_proxy.suffixes.push(entry.to_ascii_lowercase());
        }
        no_proxy
    }

    /// Whether `host` (a name or an IP address, without port) is to be reached directly.
    #[must_use]
    pub fn matches(&self, host: &str) -> bool {
        if self.everything {
            return true;
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        self.suffixes.iter().any(|suffix| {
            host == *suffix
                || host
                    .strip_suffix(suffix.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }
}

/// Opens the TCP connection to `url`'s host: directly, or as a tunnel through the proxy that
/// `setting` names.
pub(crate) async fn open(setting: &ProxySetting, url: &WsUrl) -> Result<TcpStream, Error> {
    let proxy = match setting {
        ProxySetting::Direct => None,
        ProxySetting::Explicit(proxy) => Some(proxy.clone()),
        ProxySetting::FromEnv => from_env(url, |name| std::env::var(name).ok()),
    };
    let Some(proxy) = proxy else {
        return Ok(TcpStream::connect((url.host.as_str(), url.port)).await?);
    };
    let proxy = ProxyUrl::parse(&proxy)?;
    let mut tcp = TcpStream::connect((proxy.host.as_str(), proxy.port)).await?;
    tunnel(&mut tcp, url, proxy.credentials.as_deref()).await?;
    Ok(tcp)
}

/// The proxy URL the environment names for `url`, unless `NO_PROXY` lists its host.
///
/// `wss://` reads `HTTPS_PROXY`, then `https_proxy`; `ws://` reads `HTTP_PROXY`, then
/// `http_proxy`. Empty values count as unset.
fn from_env(url: &WsUrl, var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let non_empty = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let names = if url.tls {
        ["HTTPS_PROXY", "https_proxy"]
    } else {
        ["HTTP_PROXY", "http_proxy"]
    };
    let proxy = names.iter().find_map(|name| non_empty(name))?;
    let no_proxy = non_empty("NO_PROXY").or_else(|| non_empty("no_proxy"));
    match no_proxy {
        Some(list) if NoProxy::parse(&list).matches(&url.host) => None,
        _ => Some(proxy),
    }
}

/// A parsed `http://[user:pass@]host[:port]` proxy URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProxyUrl {
    host: String,
    port: u16,
    /// `user:pass`, percent-decoded, for `Proxy-Authorization: Basic`.
    credentials: Option<String>,
}

impl ProxyUrl {
    /// Parses a proxy URL; the scheme may be left out (`host:port` means `http://host:port`).
    fn parse(url: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::Url(format!("proxy {url}: {why}"));
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some(_) => return Err(invalid("only http:// proxies are supported")),
            None => url,
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(percent_decode(userinfo)), host_port),
            None => (None, authority),
        };
        let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| invalid("unclosed [ in the host"))?;
            (host, after.strip_prefix(':'))
        } else {
            match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            }
        };
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let port = match port {
            Some(port) => port.parse().map_err(|_| invalid("invalid port"))?,
            None => 80,
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            credentials,
        })
    }
}

/// Asks the proxy on `stream` for a tunnel to `url`'s host and port and reads its answer.
///
/// The response head is read byte by byte so that not a byte of the tunnel is consumed.
async fn tunnel(
    stream: &mut TcpStream,
    url: &WsUrl,
    credentials: Option<&str>,
) -> Result<(), Error> {
    let host = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let mut request = format!("CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n");
    if let Some(credentials) = credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(credentials);
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;

    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_RESPONSE_HEAD {
            return Err(Error::Proxy(
                "the CONNECT response head is too large".into(),
            ));
        }
        let byte = stream.read_u8().await.map_err(|err| match err.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                Error::Proxy("the proxy closed the connection before answering CONNECT".into())
            }
            _ => Error::Io(err),
        })?;
        head.push(byte);
    }
    let (status, reason) = parse_status_line(&head)?;
    if !(200..300).contains(&status) {
        return Err(Error::ProxyRefused { status, reason });
    }
    Ok(())
}

/// The status code and reason phrase of an HTTP/1.x response head.
fn parse_status_line(head: &[u8]) -> Result<(u16, String), Error> {
    let malformed = || Error::Proxy("the proxy's answer to CONNECT is not an HTTP response".into());
    let line_end = head
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or_else(malformed)?;
    let line = std::str::from_utf8(&head[..line_end]).map_err(|_| malformed())?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(malformed());
    }
    let status = parts
        .next()
        .filter(|s| s.len() == 3)
        .and_then(|s| s.parse().ok())
        .ok_or_else(malformed)?;
    Ok((status, parts.next().unwrap_or_default().trim().to_owned()))
}

/// Decodes `%XX` escapes (RFC 3986 §2.1) in URL user info; invalid escapes stay as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                // Two hex digits make at most 0xff.
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The largest CONNECT response head read from a proxy.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> WsUrl {
        WsUrl::parse(s).expect("a valid URL")
    }

    #[test]
    fn proxy_urls_parse_with_and_without_credentials() {
        let proxy = ProxyUrl::parse("http://us%40er:p%3Ass@proxy.local:3128/").expect("valid");
        assert_eq!(proxy.host, "proxy.local");
        assert_eq!(proxy.port, 3128);
        assert_eq!(proxy.credentials.as_deref(), Some("us@er:p:ss"));

        let proxy = ProxyUrl::parse("[::1]:8080").expect("valid");
        assert_eq!((proxy.host.as_str(), proxy.port), ("::1", 8080));
        assert_eq!(proxy.credentials, None);

        assert_eq!(ProxyUrl::parse("http://proxy").expect("valid").port, 80);
        assert!(ProxyUrl::parse("https://proxy:443").is_err());
        assert!(ProxyUrl::parse("http://proxy:port").is_err());
        assert!(ProxyUrl::parse("http://:80").is_err());
    }

    #[test]
    fn the_environment_names_the_proxy_by_scheme_unless_no_proxy_matches() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let vars = &[
            ("HTTP_PROXY", "http://plain:1"),
            ("https_proxy", "http://secure:2"),
            ("NO_PROXY", "internal.example"),
        ];
        assert_eq!(
            from_env(&url("ws://a.example/"), env(vars)).as_deref(),
            Some("http://plain:1")
        );
        assert_eq!(
            from_env(&url("wss://a.example/"), env(vars)).as_deref(),
            Some("http://secure:2")
        );
        assert_eq!(
            from_env(&url("wss://api.internal.example/"), env(vars)),
            None
        );
        assert_eq!(
            from_env(&url("ws://a.example/"), env(&[("HTTP_PROXY", " ")])),
            None
        );
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 200 Connection established\r\n\r\n").expect("valid"),
            (200, "Connection established".to_owned())
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.0 407\r\n\r\n").expect("valid"),
            (407, String::new())
        );
        assert!(parse_status_line(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }
}
