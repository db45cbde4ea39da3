//! Quotas that bound what one client can take: WebSocket connections in total and per IP
//! address, the time a request body may take, and the file-descriptor limit.
//!
//! A connection's place is a [`Slot`] attached to it at the upgrade: the count goes down when
//! the slot is dropped, with the connection's state, however the connection ends (or when the
//! upgrade fails after the admission).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use wskit_hub::Rejection;

/// Seconds a client refused for a connection cap is told to wait (`Retry-After`).
const RETRY_AFTER_SECONDS: &str = "5";

/// The connection caps, shared by every upgrade.
#[derive(Debug)]
pub(crate) struct Connections {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One connection's place under the caps; freed on drop.
#[derive(Debug)]
pub(crate) struct Slot {
    connections: Arc<Connections>,
    ip: Option<IpAddr>,
}

// ===== impl Connections =====

impl Connections {
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes a place for a connection from `ip`, or refuses it with 503 and `Retry-After`.
    pub(crate) fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Slot, Rejection> {
        // Counters only: a panic elsewhere cannot leave them inconsistent.
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.total >= self.max_total {
            drop(counts);
            metrics::counter!("wskit_serve_refused_total", "reason" => "max_connections")
                .increment(1);
            return Err(busy(format!(
                "the server has as many WebSocket connections as it allows ({}); retry later",
                self.max_total
            )));
        }
        if let Some(ip) = ip {
            let from_ip = counts.per_ip.entry(ip).or_insert(0);
            if *from_ip >= self.max_per_ip {
                drop(counts);
                metrics::counter!(
                    "wskit_serve_refused_total",
                    "reason" => "max_connections_per_ip"
                )
                .increment(1);
                return Err(busy(format!(
                    "{ip} has as many WebSocket connections open as one address may ({}); \
                     close one or retry later",
                    self.max_per_ip
                )));
            }
            *from_ip += 1;
        }
        counts.total += 1;
        Ok(Slot {
            connections: Arc::clone(self),
            ip,
        })
    }
}

fn busy(message: String) -> Rejection {
    Rejection::new(503, message).header("Retry-After", RETRY_AFTER_SECONDS)
}

// ===== impl Slot =====

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .connections
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(ip) = self.ip {
            if let Some(n) = counts.per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    counts.per_ip.remove(&ip);
                }
            }
        }
    }
}

/// The bounds of a request body: the time it may take to arrive and its size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    pub(crate) timeout: Duration,
    pub(crate) max_bytes: usize,
}

/// Reads a request's body within the time and size allowed (408 and 413 otherwise), so that
/// a client that announces a body and never sends it holds nothing for longer than
/// `timeout`. Requests without a body pass as they are.
pub(crate) async fn read_body(
    State(limits): State<BodyLimits>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0");
    if !has_body {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let limited = http_body_util::Limited::new(body, limits.max_bytes);
    let bytes = match tokio::time::timeout(limits.timeout, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(err)) => {
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body over {} bytes\n", limits.max_bytes),
                )
                    .into_response();
            }
            return (StatusCode::BAD_REQUEST, "request body cut short\n").into_response();
        }
        Err(_) => {
            metrics::counter!("wskit_serve_refused_total", "reason" => "body_timeout").increment(1);
            let mut response = (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "request body not received within {}\n",
                    humantime::format_duration(limits.timeout)
                ),
            )
                .into_response();
            response.headers_mut().insert(
                header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            return response;
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Raises the soft limit on open files to the hard limit, so that the connection caps, not
/// the descriptors, are what refuses clients. Returns (soft before, soft now, hard).
#[cfg(unix)]
pub(crate) fn raise_fd_limit() -> std::io::Result<(u64, u64, u64)> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    let (now, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    Ok((soft, now, hard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_per_ip_and_in_total_and_free_on_drop() {
        let connections = Connections::new(3, 2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let first = connections.admit(Some(a)).unwrap();
        let _second = connections.admit(Some(a)).unwrap();
        let refused = connections.admit(Some(a)).unwrap_err();
        assert_eq!(refused.status(), 503);
        let _third = connections.admit(Some(b)).unwrap();
        assert_eq!(connections.admit(Some(b)).unwrap_err().status(), 503);
        drop(first);
        let _again = connections.admit(Some(b)).unwrap();
        assert_eq!(connections.counts.lock().unwrap().total, 3);
    }
}
