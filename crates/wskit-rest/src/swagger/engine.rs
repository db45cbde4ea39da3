//! The SwaggerSocket v1 engine: HTTP/1.1 messages in text messages, matched by correlation id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use rand::RngCore;
use tokio::sync::oneshot;
use wskit::{Message, Utf8Bytes};

use super::CORRELATION_HEADER;
use crate::body::Body;
use crate::config::RequestTimeout;
use crate::connection::{Core, Protocol};
use crate::error::Error;
use crate::handler::BoxFuture;
use crate::http1::{self, ChunkError, Framing, HeadError};

type Waiter = oneshot::Sender<Result<Response<Body>, Error>>;

/// A request sent, waiting for its response.
#[derive(Debug)]
struct Pending {
    waiter: Waiter,
    /// A `HEAD` request: its response has no body whatever its `Content-Length` says.
    head: bool,
}

/// The engine of one SwaggerSocket v1 connection.
#[derive(Debug)]
pub(crate) struct Swagger {
    core: Core,
    /// Requests sent, by correlation id, waiting for their response.
    pending: Mutex<HashMap<String, Pending>>,
    /// The HTTP message being received, when it spans several WebSocket messages.
    partial: Mutex<BytesMut>,
    /// Correlation ids are this prefix and a counter.
    prefix: String,
    next: AtomicU64,
}

/// A complete HTTP message received.
enum Received {
    Request(Request<Bytes>),
    Response(Response<Bytes>),
}

/// A parsed head, before its body.
enum Head {
    Request(http::request::Parts),
    Response(http::response::Parts),
}

/// Why a received message was refused, and the status that answers a refused request.
struct Refused {
    status: StatusCode,
    reason: String,
    correlation: Option<HeaderValue>,
    is_request: bool,
}

impl Swagger {
    pub(crate) fn new(core: Core) -> Self {
        let mut bytes = [0_u8; 6];
        rand::rng().fill_bytes(&mut bytes);
        let prefix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self {
            core,
            pending: Mutex::new(HashMap::new()),
            partial: Mutex::new(BytesMut::new()),
            prefix,
            next: AtomicU64::new(1),
        }
    }

    fn pending(&self) -> MutexGuard<'_, HashMap<String, Pending>> {
        // A panic while holding the lock cannot leave the map inconsistent: use it anyway.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Parses one complete HTTP message at the start of `buf`: `Ok(None)` if incomplete.
    fn parse(&self, buf: &[u8]) -> Result<Option<(Received, usize)>, Refused> {
        let config = &self.core.config;
        let is_request = !buf.starts_with(b"HTTP/");
        let refuse = |status, reason: String, correlation| Refused {
            status,
            reason,
            correlation,
            is_request,
        };
        let head = if is_request {
            http1::parse_request_head(buf, config.max_head_size)
                .map(|o| o.map(|(r, n)| (Head::Request(r.into_parts().0), n)))
        } else {
            http1::parse_response_head(buf, config.max_head_size)
                .map(|o| o.map(|(r, n)| (Head::Response(r.into_parts().0), n)))
        };
        let (head, head_len) = match head {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(None),
            Err(HeadError::TooLarge) => {
                return Err(refuse(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    format!("the head is larger than {} bytes", config.max_head_size),
                    None,
                ));
            }
            Err(HeadError::Invalid(reason)) => {
                return Err(refuse(StatusCode::BAD_REQUEST, reason, None));
            }
        };
        let headers = match &head {
            Head::Request(parts) => &parts.headers,
            Head::Response(parts) => &parts.headers,
        };
        let correlation = headers.get(CORRELATION_HEADER).cloned();
        let bodyless = match &head {
            Head::Response(parts) => {
                http1::response_has_no_body(self.answers_head(correlation.as_ref()), parts.status)
            }
            Head::Request(_) => false,
        };
        let too_large = |correlation| {
            refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {} bytes", config.max_body_size),
                correlation,
            )
        };
        let rest = &buf[head_len..];
        let framing = http1::framing(headers).map_err(|_| {
            refuse(
                StatusCode::BAD_REQUEST,
                "invalid Content-Length".into(),
                correlation.clone(),
            )
        })?;
        let (body, body_len) = match framing {
            // The head is the whole message, whatever its `Content-Length` says.
            _ if bodyless => (Bytes::new(), 0),
            Framing::Length(len) => {
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len > config.max_body_size {
                    return Err(too_large(correlation));
                }
                if rest.len() < len {
                    return Ok(None);
                }
                (Bytes::copy_from_slice(&rest[..len]), len)
            }
            Framing::Chunked => match http1::decode_chunked(rest, config.max_body_size) {
                Ok(Some(decoded)) => decoded,
                Ok(None) => return Ok(None),
                Err(ChunkError::TooLarge) => return Err(too_large(correlation)),
                Err(ChunkError::Invalid(reason)) => {
                    return Err(refuse(StatusCode::BAD_REQUEST, reason.into(), correlation));
                }
            },
            Framing::None if is_request => (Bytes::new(), 0),
            Framing::None => (Bytes::copy_from_slice(rest), rest.len()),
        };
        let received = match head {
            Head::Request(parts) => Received::Request(Request::from_parts(parts, body)),
            Head::Response(parts) => Received::Response(Response::from_parts(parts, body)),
        };
        Ok(Some((received, head_len + body_len)))
    }

    /// Whether the response with this correlation id answers a `HEAD` request we sent (with
    /// no id, the only request in flight, as [`dispatch`](Self::dispatch) matches it).
    fn answers_head(&self, correlation: Option<&HeaderValue>) -> bool {
        let pending = self.pending();
        match correlation.and_then(|v| v.to_str().ok()) {
            Some(id) => pending.get(id).is_some_and(|p| p.head),
            None if pending.len() == 1 => pending.values().any(|p| p.head),
            None => false,
        }
    }

    fn dispatch(self: &Arc<Self>, received: Received) {
        match received {
            Received::Request(request) => {
                let this = self.clone();
                tokio::spawn(async move { this.serve(request).await });
            }
            Received::Response(response) => {
                let correlation = response
                    .headers()
                    .get(CORRELATION_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let waiter = {
                    let mut pending = self.pending();
                    match correlation {
                        Some(id) => pending.remove(&id),
                        // A peer that does not echo the id: only unambiguous with one request
                        // in flight.
                        None if pending.len() == 1 => {
                            let key = pending.keys().next().cloned();
                            key.and_then(|key| pending.remove(&key))
                        }
                        None => None,
                    }
                };
                match waiter {
                    Some(Pending { waiter, .. }) => {
                        let _ = waiter.send(Ok(response.map(Body::from)));
                    }
                    None => tracing::warn!(
                        status = %response.status(),
                        "SwaggerSocket: a response matches no request in flight; dropped"
                    ),
                }
            }
        }
    }

    fn refuse(&self, refused: Refused) {
        tracing::debug!(reason = %refused.reason, "SwaggerSocket: refused a message");
        if refused.is_request {
            let correlation = refused.correlation.as_ref().and_then(|v| v.to_str().ok());
            let response = text_response(refused.status, &refused.reason);
            let _ = self.send_response(response, correlation, false);
            return;
        }
        let waiter = refused
            .correlation
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(|id| self.pending().remove(id));
        let error = if refused.status == StatusCode::PAYLOAD_TOO_LARGE {
            Error::BodyTooLarge {
                limit: self.core.config.max_body_size,
            }
        } else {
            Error::malformed(format!("response: {}", refused.reason))
        };
        match waiter {
            Some(Pending { waiter, .. }) => {
                let _ = waiter.send(Err(error));
            }
            None => tracing::warn!(%error, "SwaggerSocket: a malformed response was dropped"),
        }
    }

    /// Calls the handler with `request` and sends its response.
    async fn serve(self: Arc<Self>, request: Request<Bytes>) {
        let correlation = request
            .headers()
            .get(CORRELATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let is_head = request.method() == http::Method::HEAD;
        let response = self.core.handler().call(request.map(Body::from)).await;
        let (parts, body) = response.into_parts();
        let limit = self.core.config.max_body_size;
        let body = match Limited::new(body, limit).collect().await {
            Ok(body) => body.to_bytes(),
            Err(error) => {
                let reason =
                    format!("the response body failed or is larger than {limit} bytes: {error}");
                let response = text_response(StatusCode::INTERNAL_SERVER_ERROR, &reason);
                let _ = self.send_response(response, correlation.as_deref(), false);
                return;
            }
        };
        let response = Response::from_parts(parts, body);
        if let Err(error) = self.send_response(response, correlation.as_deref(), is_head) {
            tracing::debug!(%error, "SwaggerSocket: the response could not be sent");
        }
    }

    /// Sends `response` with its body delimited by `Content-Length`; `to_head`: it answers a
    /// `HEAD` request, so it goes without its body but with the `Content-Length` a `GET` would
    /// get (the handler's, else the body's length, as Go's server does).
    fn send_response(
        &self,
        mut response: Response<Bytes>,
        correlation: Option<&str>,
        to_head: bool,
    ) -> Result<(), Error> {
        let bodyless = http1::response_has_no_body(to_head, response.status());
        if !bodyless && std::str::from_utf8(response.body()).is_err() {
            let reason =
                "the response body is not UTF-8, which SwaggerSocket v1 text messages cannot carry";
            response = text_response(StatusCode::INTERNAL_SERVER_ERROR, reason);
        }
        let status = response.status();
        let len = response.body().len();
        let headers = response.headers_mut();
        headers.remove(http::header::TRANSFER_ENCODING);
        headers.remove(CORRELATION_HEADER);
        let declared = matches!(http1::framing(headers), Ok(Framing::Length(_)));
        if http1::status_forbids_length(status) {
            headers.remove(http::header::CONTENT_LENGTH);
        } else if status == StatusCode::NOT_MODIFIED {
            if !declared {
                headers.remove(http::header::CONTENT_LENGTH);
            }
        } else if !to_head || !declared {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        if bodyless {
            *response.body_mut() = Bytes::new();
        }
        let mut extra = Vec::new();
        if let Some(id) = correlation {
            extra.push((CORRELATION_HEADER, id));
        }
        let mut wire = BytesMut::new();
        http1::write_response_head(&response, &extra, &mut wire);
        wire.extend_from_slice(response.body());
        let text = Utf8Bytes::try_from(wire.freeze())
            .map_err(|_| Error::invalid("a response header is not UTF-8"))?;
        self.core.send(Message::Text(text))
    }
}

impl Protocol for Swagger {
    fn name(&self) -> &'static str {
        "swaggersocket"
    }

    fn core(&self) -> &Core {
        &self.core
    }

    fn request(
        self: Arc<Self>,
        request: Request<Body>,
    ) -> BoxFuture<Result<Response<Body>, Error>> {
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let timeout = parts
                .extensions
                .get::<RequestTimeout>()
                .map_or(self.core.config.request_timeout, |t| t.0);
            let limit = self.core.config.max_body_size;
            let body = Limited::new(body, limit).collect().await.map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    Error::BodyTooLarge { limit }
                } else {
                    Error::Body(error.to_string().into())
                }
            })?;
            let body = body.to_bytes();
            if std::str::from_utf8(&body).is_err() {
                return Err(Error::invalid(
                    "SwaggerSocket v1 carries HTTP in text messages: the body must be UTF-8",
                ));
            }
            let id = format!(
                "{}-{}",
                self.prefix,
                self.next.fetch_add(1, Ordering::Relaxed)
            );
            parts.headers.remove(http::header::TRANSFER_ENCODING);
            parts.headers.remove(CORRELATION_HEADER);
            let head = parts.method == http::Method::HEAD;
            let needs_length = !body.is_empty()
                || matches!(
                    parts.method,
                    http::Method::POST | http::Method::PUT | http::Method::PATCH
                );
            if needs_length {
                parts
                    .headers
                    .insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            }
            let mut wire = BytesMut::new();
            http1::write_request_head(
                &Request::from_parts(parts, ()),
                &[(CORRELATION_HEADER, &id)],
                &mut wire,
            );
            wire.extend_from_slice(&body);
            let text = Utf8Bytes::try_from(wire.freeze())
                .map_err(|_| Error::invalid("a request header is not UTF-8"))?;

            let (tx, rx) = oneshot::channel();
            self.pending()
                .insert(id.clone(), Pending { waiter: tx, head });
            // Removes the entry however this future ends (response, error, timeout, drop).
            let _guard = Forget {
                engine: &self,
                id: &id,
            };
            if let Some(reason) = self.core.closed_reason() {
                return Err(Error::ConnectionClosed(reason));
            }
            self.core.send(Message::Text(text))?;
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(Error::closed(
                    self.core
                        .closed_reason()
                        .unwrap_or_else(|| "the connection ended".into()),
                )),
                Err(_) => Err(Error::Timeout(timeout)),
            }
        })
    }

    fn on_message(self: Arc<Self>, message: Message) {
        let data = match message {
            Message::Text(text) => text.into_bytes(),
            Message::Binary(data) => data,
            _ => return,
        };
        let mut outcomes = Vec::new();
        {
            let mut partial = self
                .partial
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if partial.is_empty() && data.is_empty() {
                // An empty message: a Go writer's flush with nothing buffered.
                return;
            }
            partial.extend_from_slice(&data);
            loop {
                // Tolerate blank lines between messages.
                let blank = partial
                    .iter()
                    .take_while(|b| b.is_ascii_whitespace())
                    .count();
                partial.advance(blank);
                if partial.is_empty() {
                    break;
                }
                match self.parse(&partial) {
                    Ok(Some((received, used))) => {
                        partial.advance(used);
                        outcomes.push(Ok(received));
                    }
                    Ok(None) => break,
                    Err(refused) => {
                        partial.clear();
                        outcomes.push(Err(refused));
                        break;
                    }
                }
            }
        }
        for outcome in outcomes {
            match outcome {
                Ok(received) => self.dispatch(received),
                Err(refused) => self.refuse(refused),
            }
        }
    }

    fn fail_all(&self, reason: Arc<str>) {
        self.partial
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        let waiters: Vec<_> = self.pending().drain().map(|(_, p)| p.waiter).collect();
        for waiter in waiters {
            let _ = waiter.send(Err(Error::ConnectionClosed(reason.clone())));
        }
    }
}

/// Removes a request from the pending map when dropped.
struct Forget<'a> {
    engine: &'a Swagger,
    id: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.engine.pending().remove(self.id);
    }
}

/// A plain-text response with `status` and `message` as its body.
fn text_response(status: StatusCode, message: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(format!("{message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    /// Random cuts and corruptions of HTTP messages, in random message boundaries, never make
    /// the engine panic.
    #[tokio::test]
    async fn random_messages_never_panic() {
        let (core, mut out) = crate::RestConnection::builder().core();
        let swagger = Arc::new(Swagger::new(core));
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        let samples: [&[u8]; 4] = [
            b"GET /x HTTP/1.1\r\nHost: a\r\nX-Correlation-Id: 1\r\n\r\n",
            b"POST /y HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nX-Correlation-Id: 9\r\n\r\nno",
        ];
        for _ in 0..20_000 {
            let mut message = samples[rng.random_range(0..samples.len())].to_vec();
            for _ in 0..rng.random_range(0..3) {
                let at = rng.random_range(0..message.len());
                message[at] = rng.random_range(b' '..=b'~');
            }
            message.truncate(rng.random_range(0..=message.len()));
            let text = String::from_utf8_lossy(&message).into_owned();
            swagger.clone().on_message(Message::text(text));
            while out.try_recv().is_ok() {}
            tokio::task::yield_now().await;
        }
        swagger.on_close("done".into());
        assert!(swagger.pending().is_empty());
    }
}
