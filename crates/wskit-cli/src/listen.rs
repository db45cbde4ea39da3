//! Listen addresses of `wskit serve` and `wskit echo`: `IP:PORT`, `[IPv6]:PORT`, `HOST:PORT`
//! (resolved when the server starts) and `:PORT` (every IPv4 interface, as in Go and nginx).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs as _};
use std::str::FromStr;

use anyhow::Context as _;
use tokio::net::TcpListener;

/// Where a server listens: an IP address, or a host name resolved when it binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListenAddr {
    /// An address given as `IP:PORT`, or `:PORT` for every IPv4 interface.
    Ip(SocketAddr),
    /// `HOST:PORT`, such as `localhost:8080`.
    Host(String, u16),
}

impl ListenAddr {
    /// The port asked for (0: any free port).
    pub(crate) fn port(&self) -> u16 {
        match self {
            Self::Ip(addr) => addr.port(),
            Self::Host(_, port) => *port,
        }
    }

    /// The socket addresses this names, resolving a host name (blocking).
    pub(crate) fn resolve(&self) -> anyhow::Result<Vec<SocketAddr>> {
        match self {
            Self::Ip(addr) => Ok(vec![*addr]),
            Self::Host(host, port) => {
                let addrs: Vec<SocketAddr> = (host.as_str(), *port)
                    .to_socket_addrs()
                    .with_context(|| format!("cannot resolve the listen address {self}"))?
                    .collect();
                anyhow::ensure!(
                    !addrs.is_empty(),
                    "the listen address {self} resolves to no address"
                );
                Ok(addrs)
            }
        }
    }

    /// Whether every address this names is a loopback address (none of it is reachable from
    /// the network).
    pub(crate) fn is_loopback(&self) -> anyhow::Result<bool> {
        Ok(self.resolve()?.iter().all(|addr| addr.ip().is_loopback()))
    }

    /// Binds a listener: the first of the resolved addresses that can be bound.
    pub(crate) async fn bind(&self) -> anyhow::Result<TcpListener> {
        let bound = match self {
            Self::Ip(addr) => TcpListener::bind(addr).await,
            Self::Host(host, port) => TcpListener::bind((host.as_str(), *port)).await,
        };
        bound.with_context(|| format!("cannot listen on {self}"))
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        Self::Ip(addr)
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let invalid = || {
            format!(
                "invalid address {s:?} (expected IP:PORT, HOST:PORT or :PORT, such as \
                 127.0.0.1:8080, localhost:8080 or :8080)"
            )
        };
        let s = s.trim();
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(Self::Ip(addr));
        }
        let (host, port) = s.rsplit_once(':').ok_or_else(invalid)?;
        let port: u16 = port.parse().map_err(|_| invalid())?;
        if host.is_empty() {
            return Ok(Self::Ip(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                port,
            )));
        }
        // A host name: letters, digits, `-` and `.` (an IPv6 address without brackets, or
        // anything else, is refused here rather than by the resolver later).
        let valid = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !valid || host.starts_with(['-', '.']) {
            return Err(invalid());
        }
        Ok(Self::Host(host.to_owned(), port))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(addr) => addr.fmt(f),
            Self::Host(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_port_host_names_and_bare_ports() {
        let parse = |s: &str| s.parse::<ListenAddr>();
        assert_eq!(
            parse("127.0.0.1:8080"),
            Ok(ListenAddr::Ip(([127, 0, 0, 1], 8080).into()))
        );
        assert_eq!(
            parse(":8080"),
            Ok(ListenAddr::Ip(([0, 0, 0, 0], 8080).into()))
        );
        assert_eq!(
            parse("[::1]:80").map(|a| a.to_string()),
            Ok("[::1]:80".into())
        );
        assert_eq!(
            parse("localhost:8080"),
            Ok(ListenAddr::Host("localhost".into(), 8080))
        );
        assert_eq!(
            parse("localhost:8080").unwrap().to_string(),
            "localhost:8080"
        );
        for bad in [
            "8080",
            "localhost",
            "host:port",
            "::1:80",
            "a b:80",
            ":99999",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn localhost_is_loopback_and_any_is_not() {
        assert!(
            "localhost:0"
                .parse::<ListenAddr>()
                .unwrap()
                .is_loopback()
                .unwrap()
        );
        assert!(!":0".parse::<ListenAddr>().unwrap().is_loopback().unwrap());
    }
}
