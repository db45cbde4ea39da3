//! The engine of our protocol: streams, flow control, cancellation, limits.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode};
use http_body::{Body as _, Frame as BodyFrame};
use http_body_util::BodyExt;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::AbortHandle;
use wskit::Message;

use super::frame::{self, END_STREAM, Frame, INITIAL_WINDOW, Kind, code};
use crate::body::Body;
use crate::config::RequestTimeout;
use crate::connection::{Core, Protocol};
use crate::error::{BoxError, Error};
use crate::handler::{BoxFuture, status_response};
use crate::http1::{self, Framing, HeadError};

type Waiter = oneshot::Sender<Result<Response<Body>, Error>>;
type BodySender = mpsc::UnboundedSender<Result<Bytes, Error>>;

/// The engine of one connection speaking our protocol.
#[derive(Debug)]
pub(crate) struct Mux {
    core: Core,
    /// The WebSocket client opens odd stream ids, the server even ones.
    next_id: AtomicU32,
    streams: Mutex<HashMap<u32, Stream>>,
}

/// One stream's state.
#[derive(Debug)]
struct Stream {
    /// Whether the peer opened it (we serve it) or we did (we wait for its response).
    served: bool,
    /// A request we sent, waiting for its response head.
    waiter: Option<Waiter>,
    /// A `HEAD` request we sent: its response has no body.
    head: bool,
    /// Where received body bytes go, until END_STREAM.
    body: Option<BodySender>,
    /// How many more body bytes the peer may send before we grant more.
    recv_window: u64,
    /// The configured window beyond the initial one, added to the first grant.
    extra_window: u32,
    /// Body bytes received so far.
    received: u64,
    /// Served: whether the response head went out (a 413 is still possible before).
    responded: bool,
    /// Our sending window.
    credit: Arc<Credit>,
    /// Tasks working for the stream (handler, body sender), aborted when it is reset.
    tasks: Vec<AbortHandle>,
    local_done: bool,
    remote_done: bool,
}

/// A stream's sending window, shared with the task sending its body.
#[derive(Debug)]
struct Credit {
    state: Mutex<CreditState>,
    changed: Notify,
}

#[derive(Debug)]
struct CreditState {
    window: u64,
    /// Set when the stream ended: the sender stops.
    stopped: Option<Error>,
}

impl Mux {
    pub(crate) fn new(core: Core, client: bool) -> Self {
        Self {
            core,
            next_id: AtomicU32::new(if client { 1 } else { 2 }),
            streams: Mutex::new(HashMap::new()),
        }
    }

    fn streams(&self) -> MutexGuard<'_, HashMap<u32, Stream>> {
        // A panic while holding the lock leaves each stream's state usable: go on with it.
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_ours(&self, id: u32) -> bool {
        id % 2 == self.next_id.load(Ordering::Relaxed) % 2
    }

    fn send_frame(&self, frame: Bytes) {
        let _ = self.core.send(Message::Binary(frame));
    }

    fn reset(&self, id: u32, code: u32, reason: &str) {
        tracing::debug!(id, code, reason, "wskit-rest: resetting a stream");
        self.send_frame(frame::reset(id, code, reason));
    }

    fn new_stream(served: bool, body: Option<BodySender>, done_receiving: bool) -> Stream {
        Stream {
            served,
            waiter: None,
            head: false,
            body,
            recv_window: u64::from(INITIAL_WINDOW),
            extra_window: 0,
            received: 0,
            responded: false,
            credit: Arc::new(Credit::new(u64::from(INITIAL_WINDOW))),
            tasks: Vec::new(),
            local_done: false,
            remote_done: done_receiving,
        }
    }

    /// Arranges for the peer to get the configured window beyond the protocol's initial one,
    /// with the first grant (so a body that fits the initial window costs no WINDOW_UPDATE).
    fn open_window(&self, stream: &mut Stream) {
        stream.extra_window = self
            .core
            .config
            .initial_window
            .saturating_sub(INITIAL_WINDOW);
    }

    /// The application consumed `n` body bytes of stream `id`: let the peer send more.
    fn grant(&self, id: u32, n: usize) {
        let Ok(n) = u32::try_from(n) else { return };
        if n == 0 {
            return;
        }
        let mut streams = self.streams();
        if let Some(stream) = streams.get_mut(&id) {
            if !stream.remote_done {
                let n = n.saturating_add(std::mem::take(&mut stream.extra_window));
                stream.recv_window += u64::from(n);
                self.send_frame(frame::window_update(id, n));
            }
        }
    }

    /// Ends stream `id` abnormally from this side: resets it, stops its tasks.
    fn cancel(&self, id: u32, code: u32, reason: &str) {
        let stream = self.streams().remove(&id);
        if let Some(stream) = stream {
            self.reset(id, code, reason);
            stream.stop(&Error::Reset {
                code,
                reason: reason.into(),
            });
        }
    }

    /// Marks our half of stream `id` done, and forgets the stream once both halves are.
    fn local_end(&self, id: u32) {
        let mut streams = self.streams();
        let Some(stream) = streams.get_mut(&id) else {
            return;
        };
        stream.local_done = true;
        if stream.remote_done {
            streams.remove(&id);
        } else if stream.served && stream.responded {
            // The response is complete: the rest of the request body is not needed.
            if let Some(stream) = streams.remove(&id) {
                self.reset(id, code::NO_ERROR, "response complete");
                stream.credit.stop(Error::closed("stream complete"));
            }
        }
    }

    /// Sends `body` on stream `id` as DATA frames within the stream's window, then END_STREAM.
    async fn send_body(self: Arc<Self>, id: u32, mut body: Body, credit: Arc<Credit>) {
        let max = self.core.config.max_frame_payload;
        loop {
            match body.frame().await {
                None => {
                    self.send_frame(frame::encode(Kind::Data, END_STREAM, id, &[]));
                    break;
                }
                Some(Ok(chunk)) => {
                    let Ok(mut data) = chunk.into_data() else {
                        continue;
                    };
                    while !data.is_empty() {
                        let Ok(n) = credit.take(data.len().min(max)).await else {
                            return;
                        };
                        let piece = data.split_to(n);
                        let end = data.is_empty() && body.is_end_stream();
                        let flags = if end { END_STREAM } else { 0 };
                        self.send_frame(frame::encode(Kind::Data, flags, id, &piece));
                        if end {
                            self.local_end(id);
                            return;
                        }
                    }
                }
                Some(Err(error)) => {
                    self.cancel(
                        id,
                        code::INTERNAL_ERROR,
                        &format!("the body failed: {error}"),
                    );
                    return;
                }
            }
        }
        self.local_end(id);
    }

    /// Sends the head and body of `response` on served stream `id`. Runs in the stream's
    /// handler task, so resetting the stream stops it.
    /// `to_head`: the request was `HEAD`, so the response goes without its body (with the
    /// handler's `Content-Length`, else the body's exact size when known).
    async fn respond(self: Arc<Self>, id: u32, response: Response<Body>, to_head: bool) {
        let (mut parts, body) = response.into_parts();
        parts.headers.remove(http::header::TRANSFER_ENCODING);
        let bodyless = http1::response_has_no_body(to_head, parts.status);
        if http1::status_forbids_length(parts.status) {
            parts.headers.remove(http::header::CONTENT_LENGTH);
        } else if to_head && !parts.headers.contains_key(http::header::CONTENT_LENGTH) {
            if let Some(len) = body.size_hint().exact() {
                parts
                    .headers
                    .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
            }
        }
        let response = Response::from_parts(parts, ());
        let mut head = BytesMut::new();
        http1::write_response_head(&response, &[], &mut head);
        // A response without a body ends with its HEADERS; the handler's body is dropped.
        let end = bodyless || body.is_end_stream();
        let credit = {
            let mut streams = self.streams();
            let Some(stream) = streams.get_mut(&id) else {
                return;
            };
            stream.responded = true;
            self.send_frame(frame::encode(
                Kind::Headers,
                if end { END_STREAM } else { 0 },
                id,
                &head,
            ));
            stream.credit.clone()
        };
        if end {
            self.local_end(id);
        } else {
            // No await between the head and the first DATA of a ready body: the connection
            // task finds both queued and writes them together.
            self.send_body(id, body, credit).await;
        }
    }

    /// Answers a request we refused before calling the handler, and ends the stream.
    fn refuse(self: &Arc<Self>, id: u32, remote_done: bool, status: StatusCode, reason: &str) {
        let mut stream = Self::new_stream(true, None, remote_done);
        stream.responded = true;
        self.streams().insert(id, stream);
        let response = status_response(status, reason);
        let task = tokio::spawn(self.clone().respond(id, response, false));
        if let Some(stream) = self.streams().get_mut(&id) {
            stream.tasks.push(task.abort_handle());
        }
    }

    fn on_headers(self: &Arc<Self>, frame: Frame) {
        let id = frame.stream;
        let config = &self.core.config;
        if self.is_ours(id) {
            // The response to a request we sent.
            let mut streams = self.streams();
            let Some(stream) = streams.get_mut(&id) else {
                drop(streams);
                return self.reset(
                    id,
                    code::STREAM_CLOSED,
                    "HEADERS for a stream that is not open",
                );
            };
            let Some(waiter) = stream.waiter.take() else {
                drop(streams);
                return self.cancel(id, code::PROTOCOL_ERROR, "a second HEADERS frame");
            };
            let head = match http1::parse_response_head(&frame.payload, config.max_head_size) {
                Ok(Some((head, _))) => head,
                other => {
                    let reason = match other {
                        Err(HeadError::TooLarge) => {
                            format!("a response head over {} bytes", config.max_head_size)
                        }
                        Err(HeadError::Invalid(reason)) => reason,
                        _ => "an incomplete response head".to_owned(),
                    };
                    drop(streams);
                    let _ = waiter.send(Err(Error::malformed(reason.clone())));
                    return self.cancel(id, code::PROTOCOL_ERROR, &reason);
                }
            };
            let bodyless = http1::response_has_no_body(stream.head, head.status());
            let body = if frame.is_end() {
                stream.remote_done = true;
                Body::empty()
            } else if bodyless {
                // A peer that sends a body anyway: the response is complete, stop the rest.
                let stream = streams.remove(&id);
                drop(streams);
                if let Some(stream) = stream {
                    self.reset(id, code::NO_ERROR, "this response has no body");
                    stream
                        .credit
                        .stop(Error::closed("the response is complete"));
                }
                let _ = waiter.send(Ok(head.map(|()| Body::empty())));
                return;
            } else {
                let (tx, rx) = mpsc::unbounded_channel();
                stream.body = Some(tx);
                self.open_window(stream);
                Body::new(RecvBody::new(self.clone(), id, rx, true))
            };
            if stream.remote_done && stream.local_done {
                streams.remove(&id);
            }
            drop(streams);
            let _ = waiter.send(Ok(head.map(|()| body)));
            return;
        }

        // A new request from the peer.
        if self.streams().contains_key(&id) {
            return self.cancel(id, code::PROTOCOL_ERROR, "a second HEADERS frame");
        }
        let open = self.streams().values().filter(|s| s.served).count();
        if open >= config.max_streams {
            return self.reset(id, code::REFUSED_STREAM, "too many open streams");
        }
        let end = frame.is_end();
        let request = match http1::parse_request_head(&frame.payload, config.max_head_size) {
            Ok(Some((request, _))) => request,
            Ok(None) => {
                return self.refuse(id, end, StatusCode::BAD_REQUEST, "incomplete request head");
            }
            Err(HeadError::TooLarge) => {
                let reason = format!(
                    "the request head is larger than {} bytes",
                    config.max_head_size
                );
                return self.refuse(
                    id,
                    end,
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    &reason,
                );
            }
            Err(HeadError::Invalid(reason)) => {
                return self.refuse(id, end, StatusCode::BAD_REQUEST, &reason);
            }
        };
        match http1::framing(request.headers()) {
            Ok(Framing::Length(len)) if len > config.max_body_size as u64 => {
                let reason = format!("the body is larger than {} bytes", config.max_body_size);
                return self.refuse(id, end, StatusCode::PAYLOAD_TOO_LARGE, &reason);
            }
            Ok(_) => {}
            Err(_) => {
                return self.refuse(id, end, StatusCode::BAD_REQUEST, "invalid Content-Length");
            }
        }
        let (body, sender) = if end {
            (Body::empty(), None)
        } else {
            let (tx, rx) = mpsc::unbounded_channel();
            (
                Body::new(RecvBody::new(self.clone(), id, rx, false)),
                Some(tx),
            )
        };
        let mut stream = Self::new_stream(true, sender, end);
        self.open_window(&mut stream);
        self.streams().insert(id, stream);
        let this = self.clone();
        let handler = self.core.handler();
        let to_head = request.method() == http::Method::HEAD;
        let task = tokio::spawn(async move {
            let response = handler.call(request.map(|()| body)).await;
            this.respond(id, response, to_head).await;
        });
        if let Some(stream) = self.streams().get_mut(&id) {
            stream.tasks.push(task.abort_handle());
        }
    }

    fn on_data(&self, frame: Frame) {
        let id = frame.stream;
        let len = frame.payload.len();
        let max_body = self.core.config.max_body_size as u64;
        let mut streams = self.streams();
        let Some(stream) = streams.get_mut(&id) else {
            drop(streams);
            return self.reset(
                id,
                code::STREAM_CLOSED,
                "DATA for a stream that is not open",
            );
        };
        if stream.remote_done {
            drop(streams);
            return self.cancel(id, code::PROTOCOL_ERROR, "DATA after END_STREAM");
        }
        if stream.waiter.is_some() {
            drop(streams);
            return self.cancel(id, code::PROTOCOL_ERROR, "DATA before the response HEADERS");
        }
        if len as u64 > stream.recv_window {
            drop(streams);
            let reason = "DATA beyond the flow-control window";
            if let Some(stream) = self.streams().get_mut(&id) {
                if let Some(body) = &stream.body {
                    let _ = body.send(Err(Error::malformed(reason)));
                }
            }
            return self.cancel(id, code::FLOW_CONTROL_ERROR, reason);
        }
        stream.recv_window -= len as u64;
        stream.received += len as u64;
        if stream.received > max_body {
            let served = stream.served;
            let responded = stream.responded;
            if let Some(body) = &stream.body {
                let _ = body.send(Err(Error::BodyTooLarge {
                    limit: self.core.config.max_body_size,
                }));
            }
            let stream = streams.remove(&id);
            drop(streams);
            let reason = format!("the body is larger than {max_body} bytes");
            if let Some(stream) = stream {
                stream.stop(&Error::BodyTooLarge {
                    limit: self.core.config.max_body_size,
                });
            }
            if served && !responded {
                let response = status_response(StatusCode::PAYLOAD_TOO_LARGE, &reason);
                let mut head = BytesMut::new();
                http1::write_response_head(
                    &Response::from_parts(response.into_parts().0, ()),
                    &[],
                    &mut head,
                );
                let body = format!("{reason}\n");
                self.send_frame(frame::encode(Kind::Headers, 0, id, &head));
                self.send_frame(frame::encode(Kind::Data, END_STREAM, id, body.as_bytes()));
            }
            return self.reset(id, code::BODY_TOO_LARGE, &reason);
        }
        let end = frame.is_end();
        let delivered = match &stream.body {
            Some(body) if len > 0 => body.send(Ok(frame.payload)).is_ok(),
            _ => false,
        };
        if end {
            stream.body = None;
            stream.remote_done = true;
            if stream.local_done {
                streams.remove(&id);
            }
        }
        drop(streams);
        if !delivered {
            // Nobody reads this body any more: give the window back at once.
            self.grant(id, len);
        }
    }

    fn on_window_update(&self, frame: Frame) {
        let Some(increment) = frame::read_u32(&frame.payload) else {
            return self.cancel(
                frame.stream,
                code::PROTOCOL_ERROR,
                "WINDOW_UPDATE without a u32",
            );
        };
        let credit = self.streams().get(&frame.stream).map(|s| s.credit.clone());
        if let Some(credit) = credit {
            credit.add(u64::from(increment));
        }
    }

    fn on_reset(&self, frame: Frame) {
        let code = frame::read_u32(&frame.payload).unwrap_or(code::PROTOCOL_ERROR);
        let reason =
            String::from_utf8_lossy(frame.payload.get(4..).unwrap_or_default()).into_owned();
        if frame.stream == 0 {
            tracing::warn!(code, %reason, "wskit-rest: the peer reports a connection error");
            return;
        }
        let Some(stream) = self.streams().remove(&frame.stream) else {
            return;
        };
        if code == code::NO_ERROR {
            // The peer needs no more of our body; what it sent stays valid.
            stream
                .credit
                .stop(Error::closed("the peer needs no more of the body"));
            for task in &stream.tasks {
                if stream.served {
                    task.abort();
                }
            }
            return;
        }
        stream.stop(&Error::Reset {
            code,
            reason: reason.into(),
        });
    }
}

impl Protocol for Mux {
    fn name(&self) -> &'static str {
        crate::connection::PROTOCOL
    }

    fn core(&self) -> &Core {
        &self.core
    }

    fn request(
        self: Arc<Self>,
        request: Request<Body>,
    ) -> BoxFuture<Result<Response<Body>, Error>> {
        Box::pin(async move {
            if let Some(reason) = self.core.closed_reason() {
                return Err(Error::ConnectionClosed(reason));
            }
            let id = self.next_id.fetch_add(2, Ordering::Relaxed);
            let (mut parts, body) = request.into_parts();
            let timeout = parts
                .extensions
                .get::<RequestTimeout>()
                .map_or(self.core.config.request_timeout, |t| t.0);
            // DATA frames delimit the body; a chunked coding header would mislead the peer.
            parts.headers.remove(http::header::TRANSFER_ENCODING);
            let is_head = parts.method == http::Method::HEAD;
            let mut head = BytesMut::new();
            http1::write_request_head(&Request::from_parts(parts, ()), &[], &mut head);
            let end = body.is_end_stream();
            let (tx, rx) = oneshot::channel();
            let credit = {
                let mut stream = Self::new_stream(false, None, false);
                stream.waiter = Some(tx);
                stream.head = is_head;
                stream.local_done = end;
                let credit = stream.credit.clone();
                self.streams().insert(id, stream);
                credit
            };
            let mut guard = CancelOnDrop {
                mux: &self,
                id,
                armed: true,
            };
            self.core.send(Message::Binary(frame::encode(
                Kind::Headers,
                if end { END_STREAM } else { 0 },
                id,
                &head,
            )))?;
            if !end {
                let task = tokio::spawn(self.clone().send_body(id, body, credit));
                if let Some(stream) = self.streams().get_mut(&id) {
                    stream.tasks.push(task.abort_handle());
                }
            }
            let result = match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(Error::closed(
                    self.core
                        .closed_reason()
                        .unwrap_or_else(|| "the connection ended".into()),
                )),
                Err(_) => {
                    guard.armed = false;
                    self.cancel(id, code::CANCEL, "timed out");
                    return Err(Error::Timeout(timeout));
                }
            };
            if result.is_ok() {
                guard.armed = false;
            }
            result
        })
    }

    fn on_message(self: Arc<Self>, message: Message) {
        let data = match message {
            Message::Binary(data) => data,
            Message::Text(_) => {
                return self.reset(
                    0,
                    code::PROTOCOL_ERROR,
                    "a text message; wskit-rest.v1 frames are binary messages",
                );
            }
            _ => return,
        };
        let frame = match Frame::decode(data) {
            Ok(frame) => frame,
            Err(reason) => return self.reset(0, code::PROTOCOL_ERROR, &reason),
        };
        match frame.kind {
            Kind::Headers => self.on_headers(frame),
            Kind::Data => self.on_data(frame),
            Kind::WindowUpdate => self.on_window_update(frame),
            Kind::Reset => self.on_reset(frame),
        }
    }

    fn fail_all(&self, reason: Arc<str>) {
        let streams: Vec<Stream> = self.streams().drain().map(|(_, s)| s).collect();
        let error = Error::ConnectionClosed(reason);
        for stream in streams {
            stream.stop(&error);
        }
    }
}

// ===== impl Stream =====

impl Stream {
    /// Fails everything waiting on the stream with `error` and stops its tasks.
    fn stop(mut self, error: &Error) {
        if let Some(waiter) = self.waiter.take() {
            let _ = waiter.send(Err(error.clone()));
        }
        if let Some(body) = self.body.take() {
            let _ = body.send(Err(error.clone()));
        }
        self.credit.stop(error.clone());
        for task in &self.tasks {
            task.abort();
        }
    }
}

// ===== impl Credit =====

impl Credit {
    fn new(window: u64) -> Self {
        Self {
            state: Mutex::new(CreditState {
                window,
                stopped: None,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, CreditState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until some window is open, takes up to `max` bytes of it.
    async fn take(&self, max: usize) -> Result<usize, Error> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so an `add` between the check and the await wakes us.
            changed.as_mut().enable();
            {
                let mut state = self.lock();
                if let Some(error) = &state.stopped {
                    return Err(error.clone());
                }
                if state.window > 0 {
                    let n = state.window.min(max as u64);
                    state.window -= n;
                    // n <= max, a usize.
                    return Ok(usize::try_from(n).unwrap_or(max));
                }
            }
            changed.await;
        }
    }

    fn add(&self, n: u64) {
        self.lock().window += n;
        self.changed.notify_waiters();
    }

    fn stop(&self, error: Error) {
        self.lock().stopped.get_or_insert(error);
        self.changed.notify_waiters();
    }
}

/// Resets a request's stream when its future is dropped before the response came.
struct CancelOnDrop<'a> {
    mux: &'a Arc<Mux>,
    id: u32,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.mux
                .cancel(self.id, code::CANCEL, "the caller dropped the request");
        }
    }
}

/// A received body: bytes from DATA frames; reading them grants the peer more window.
#[derive(Debug)]
struct RecvBody {
    mux: Arc<Mux>,
    id: u32,
    rx: mpsc::UnboundedReceiver<Result<Bytes, Error>>,
    /// Bytes read but not yet granted back (granted in batches).
    ungranted: usize,
    done: bool,
    /// A response body: dropping it early cancels the stream. A request body dropped early by
    /// a handler only stops being read.
    cancel_on_drop: bool,
}

impl RecvBody {
    fn new(
        mux: Arc<Mux>,
        id: u32,
        rx: mpsc::UnboundedReceiver<Result<Bytes, Error>>,
        cancel_on_drop: bool,
    ) -> Self {
        Self {
            mux,
            id,
            rx,
            ungranted: 0,
            done: false,
            cancel_on_drop,
        }
    }
}

impl http_body::Body for RecvBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, BoxError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(data))) => {
                self.ungranted += data.len();
                // Batches grants: a quarter of the initial window at a time.
                if self.ungranted >= (INITIAL_WINDOW / 4) as usize {
                    let n = std::mem::take(&mut self.ungranted);
                    self.mux.grant(self.id, n);
                }
                Poll::Ready(Some(Ok(BodyFrame::data(data))))
            }
            Poll::Ready(Some(Err(error))) => {
                self.done = true;
                Poll::Ready(Some(Err(Box::new(error))))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
        }
    }
}

impl Drop for RecvBody {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.cancel_on_drop {
            self.mux
                .cancel(self.id, code::CANCEL, "the response body was dropped");
        } else if let Some(stream) = self.mux.streams().get_mut(&self.id) {
            // Later DATA is dropped and its window given back at once.
            stream.body = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::connection::Builder;

    /// Random frames, mostly well-formed headers with random fields and payloads, never make
    /// the engine panic; it answers with frames of its own.
    #[tokio::test]
    async fn random_frames_never_panic() {
        let builder: Builder = crate::RestConnection::builder();
        let (core, mut out) = builder.core();
        let mux = Arc::new(Mux::new(core, false));
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        let heads: [&[u8]; 4] = [
            b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
            b"POST /y HTTP/1.1\r\ncontent-length: 3\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"\xff\xfe garbage",
        ];
        for _ in 0..20_000 {
            let mut message = Vec::new();
            let kind: u8 = rng.random_range(0..6);
            message.push(kind);
            message.push(rng.random());
            message.extend_from_slice(&rng.random_range(0_u32..16).to_be_bytes());
            if kind == 1 && rng.random_bool(0.8) {
                message.extend_from_slice(heads[rng.random_range(0..heads.len())]);
            } else {
                let len = rng.random_range(0..12);
                message.extend((0..len).map(|_| rng.random::<u8>()));
            }
            let cut = rng.random_range(0..=message.len());
            message.truncate(cut.max(message.len().saturating_sub(2)));
            mux.clone()
                .on_message(Message::Binary(Bytes::from(message)));
            while out.try_recv().is_ok() {}
            tokio::task::yield_now().await;
        }
        mux.on_close("done".into());
        assert!(mux.streams().is_empty());
    }
}
