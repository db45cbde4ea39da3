//! Who may talk to the server from a browser: the `Host` a request names and the `Origin` of
//! the page that sent it.
//!
//! - Without an API key the server listens on loopback only, and then answers only requests
//!   whose `Host` is that loopback address (or `localhost`) on its port: a page whose own host
//!   name was made to resolve to 127.0.0.1 (DNS rebinding) names its own host, and is refused.
//! - The key-less API accepts no request from another site's page (`Origin` not this server)
//!   and only `application/json` bodies, which a page of another site cannot send without
//!   asking first (CORS preflight, never granted here): no cross-site request forgery.
//! - `/ws` and `/echo` admit a page of this server's own origin only, unless
//!   `allowed_origins` lists others; a request without `Origin` (not a browser) is admitted.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::api;

/// The `Host` values a key-less server answers: its loopback address and `localhost`, with
/// its port.
#[derive(Debug, Clone)]
pub(crate) struct LoopbackHosts(Arc<[String]>);

// ===== impl LoopbackHosts =====

impl LoopbackHosts {
    /// The names of `addr` (a loopback address, with the port actually bound), and the hosts
    /// of the origins the operator listed (`allowed_origins`, `*` aside): a page of a listed
    /// origin may reach the server under that origin's name.
    pub(crate) fn new(addr: SocketAddr, listed: &[String]) -> Self {
        let port = addr.port();
        let mut hosts = vec![addr.to_string(), format!("localhost:{port}")];
        if port == 80 {
            hosts.push(addr.ip().to_string());
            if addr.is_ipv6() {
                hosts.push(format!("[{}]", addr.ip()));
            }
            hosts.push("localhost".to_owned());
        }
        for origin in listed {
            let Some((scheme, authority)) = origin.trim_end_matches('/').split_once("://") else {
                continue;
            };
            let default_port = if scheme.eq_ignore_ascii_case("https") {
                "443"
            } else {
                "80"
            };
            let (host, port) = split_port(authority, default_port);
            hosts.push(format!("{host}:{port}"));
            if port == default_port {
                hosts.push(host.to_owned());
            }
        }
        Self(hosts.into())
    }

    fn allows(&self, host: &str) -> bool {
        self.0.iter().any(|h| h.eq_ignore_ascii_case(host))
    }
}

/// Refuses (403) a request whose `Host` is not one of this loopback server's names.
/// `/healthz` is exempt: a probe may name the host as it likes.
pub(crate) async fn require_loopback_host(
    State(hosts): State<LoopbackHosts>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    match host {
        Some(host) if hosts.allows(host) => next.run(request).await,
        _ => {
            metrics::counter!("wskit_serve_refused_total", "reason" => "host").increment(1);
            (
                StatusCode::FORBIDDEN,
                format!(
                    "Host {:?} is not this server: without an API key it answers only requests \
                     for {}\n",
                    host.unwrap_or(""),
                    hosts.0.join(" or ")
                ),
            )
                .into_response()
        }
    }
}

/// Refuses (415) a key-less API request with a body that is not `application/json`.
pub(crate) async fn require_json(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0");
    if has_body && !is_json(headers) {
        metrics::counter!("wskit_serve_refused_total", "reason" => "content_type").increment(1);
        return api::json(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &json!({
                "code": "unsupported_media_type",
                "message": "send the body as Content-Type: application/json",
            }),
        );
    }
    next.run(request).await
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Whether the page that sent a request with these headers is of this server's origin, or
/// not a page at all (no `Origin`).
pub(crate) fn same_origin_or_none(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .map(|v: &HeaderValue| v.to_str().unwrap_or("\n"))
    };
    page_allowed(text(header::ORIGIN), text(header::HOST))
}

/// [`same_origin_or_none`] for an `Origin` and a `Host` value.
pub(crate) fn page_allowed(origin: Option<&str>, host: Option<&str>) -> bool {
    match (origin, host) {
        (None, _) => true,
        (Some(origin), Some(host)) => same_origin(origin, host),
        (Some(_), None) => false,
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the server reached as `host`
/// (`host[:port]`), default ports included.
pub(crate) fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.trim_end_matches('/').split_once("://") else {
        // `null` (a sandboxed page, a file) or garbage.
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => "80",
        "https" | "wss" => "443",
        _ => return false,
    };
    let (origin_host, origin_port) = split_port(authority, default_port);
    let (host_host, host_port) = split_port(host, default_port);
    origin_host.eq_ignore_ascii_case(host_host) && origin_port == host_port
}

/// `host[:port]` into the host and the port (or `default`); IPv6 literals keep their brackets.
fn split_port<'a>(authority: &'a str, default: &'a str) -> (&'a str, &'a str) {
    match authority.rsplit_once(':') {
        Some((host, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.starts_with('[') || host.ends_with(']')) =>
        {
            (host, port)
        }
        _ => (authority, default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_hosts_with_default_ports() {
        assert!(same_origin("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(same_origin("http://Example.com", "example.com:80"));
        assert!(same_origin("https://example.com/", "example.com"));
        assert!(same_origin("http://[::1]:9", "[::1]:9"));
        assert!(!same_origin("http://evil.example:8080", "127.0.0.1:8080"));
        assert!(!same_origin("http://127.0.0.1:8081", "127.0.0.1:8080"));
        assert!(!same_origin("https://example.com", "example.com:80"));
        assert!(!same_origin("null", "127.0.0.1:8080"));
        assert!(!same_origin("file://", "127.0.0.1:8080"));
    }

    #[test]
    fn loopback_hosts() {
        let hosts = LoopbackHosts::new("127.0.0.1:8080".parse().unwrap(), &[]);
        assert!(hosts.allows("127.0.0.1:8080"));
        assert!(hosts.allows("LOCALHOST:8080"));
        assert!(!hosts.allows("127.0.0.1:8081"));
        assert!(!hosts.allows("rebound.example:8080"));
        assert!(!hosts.allows("127.0.0.1"));
        let v6 = LoopbackHosts::new("[::1]:80".parse().unwrap(), &[]);
        assert!(v6.allows("[::1]") && v6.allows("[::1]:80") && v6.allows("localhost"));
        let listed = LoopbackHosts::new(
            "127.0.0.1:8080".parse().unwrap(),
            &["http://app.example".to_owned(), "*".to_owned()],
        );
        assert!(listed.allows("app.example") && listed.allows("app.example:80"));
        assert!(!listed.allows("other.example"));
    }
}
