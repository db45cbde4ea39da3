//! Services: what runs on a path. A [`Service`] has a method per event; a closure route
//! ([`Hub::route_fn`](crate::Hub::route_fn)) owns its connection and loops on an [`Inbox`].

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::sync::mpsc;
use wskit::{CloseCode, Message, Utf8Bytes};

use crate::connection::Connection;

/// What [`Service::on_idle`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Close the connection (code 1000, reason "idle timeout").
    Close,
    /// Keep it open; the idle timer starts again.
    KeepOpen,
}

/// A WebSocket service: one method per event of a connection, each with a default that does
/// nothing. Register it on a path with [`Hub::register`](crate::Hub::register).
///
/// Events of one connection arrive in order, one at a time (the next message is not read
/// before the handler of the previous one returns); different connections run in parallel.
/// A handler that panics closes only its own connection, with 1011.
///
/// # Example
/// ```
/// use wskit_hub::{Connection, Service};
///
/// struct Echo;
///
/// impl Service for Echo {
///     async fn on_text(&self, conn: &Connection, text: wskit::Utf8Bytes) {
///         let _ = conn.send_text(text).await;
///     }
///     async fn on_binary(&self, conn: &Connection, data: bytes::Bytes) {
///         let _ = conn.send_binary(data).await;
///     }
/// }
/// ```
#[doc(alias = "WebSocketService")]
pub trait Service: Send + Sync + 'static {
    /// The connection is open (the `101` response was sent).
    #[doc(alias = "OnOpen")]
    #[doc(alias = "onOpen")]
    #[doc(alias = ":open")]
    fn on_open(&self, conn: &Connection) -> impl Future<Output = ()> + Send {
        let _ = conn;
        async {}
    }

    /// A text message arrived.
    #[doc(alias = "OnTextMessage")]
    #[doc(alias = "onTextMessage")]
    #[doc(alias = ":message")]
    fn on_text(&self, conn: &Connection, text: Utf8Bytes) -> impl Future<Output = ()> + Send {
        let _ = (conn, text);
        async {}
    }

    /// A binary message arrived.
    #[doc(alias = ":message")]
    fn on_binary(&self, conn: &Connection, data: Bytes) -> impl Future<Output = ()> + Send {
        let _ = (conn, data);
        async {}
    }

    /// A ping arrived (the pong has already been sent).
    #[doc(alias = "PingHdlr")]
    fn on_ping(&self, conn: &Connection, payload: Bytes) -> impl Future<Output = ()> + Send {
        let _ = (conn, payload);
        async {}
    }

    /// A pong arrived.
    #[doc(alias = "PongHdlr")]
    fn on_pong(&self, conn: &Connection, payload: Bytes) -> impl Future<Output = ()> + Send {
        let _ = (conn, payload);
        async {}
    }

    /// The connection has ended, however it ended: `code` is the peer's close code, ours, or
    /// 1006 when the transport closed without a close frame. Called exactly once; sends
    /// fail from here on.
    #[doc(alias = "OnClose")]
    #[doc(alias = "onClose")]
    #[doc(alias = ":close")]
    fn on_close(
        &self,
        conn: &Connection,
        code: CloseCode,
        reason: &str,
    ) -> impl Future<Output = ()> + Send {
        let _ = (conn, code, reason);
        async {}
    }

    /// The connection failed: a protocol violation by the peer (the matching close code was
    /// sent), a message over the size limit (1009), or an I/O error. `on_close` follows.
    #[doc(alias = ":error")]
    fn on_error(&self, conn: &Connection, error: &wskit::Error) -> impl Future<Output = ()> + Send {
        let _ = (conn, error);
        async {}
    }

    /// Nothing arrived for the idle timeout
    /// ([`ServiceOptions::idle_timeout`](crate::ServiceOptions::idle_timeout)). Default: close.
    fn on_idle(&self, conn: &Connection) -> impl Future<Output = Idle> + Send {
        let _ = conn;
        async { Idle::Close }
    }
}

/// An event for a service.
#[derive(Debug)]
pub(crate) enum Event {
    Open,
    Text(Utf8Bytes),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    Close(CloseCode, String),
    Error(wskit::Error),
    Idle,
}

/// A boxed future of a handler.
pub(crate) type Handler = Pin<Box<dyn Future<Output = Result<Option<Idle>, ()>> + Send>>;

/// A service with its type erased, as the hub stores it.
pub(crate) trait DynService: Send + Sync + 'static {
    /// Runs the handler of `event`; `Err` when it panicked.
    fn dispatch(self: Arc<Self>, conn: Connection, event: Event) -> Handler;
}

impl<S: Service> DynService for S {
    fn dispatch(self: Arc<Self>, conn: Connection, event: Event) -> Handler {
        let fut = async move {
            match event {
                Event::Open => self.on_open(&conn).await,
                Event::Text(text) => self.on_text(&conn, text).await,
                Event::Binary(data) => self.on_binary(&conn, data).await,
                Event::Ping(payload) => self.on_ping(&conn, payload).await,
                Event::Pong(payload) => self.on_pong(&conn, payload).await,
                Event::Close(code, reason) => self.on_close(&conn, code, &reason).await,
                Event::Error(err) => self.on_error(&conn, &err).await,
                Event::Idle => return Some(self.on_idle(&conn).await),
            }
            None
        };
        Box::pin(
            AssertUnwindSafe(fut)
                .catch_unwind()
                .map(|r| r.map_err(|_| ())),
        )
    }
}

/// The messages of a connection served by a closure route, in order. Pings and pongs are
/// answered and consumed by the hub.
///
/// # Example
/// ```
/// # async fn handler(conn: wskit_hub::Connection, mut inbox: wskit_hub::Inbox) {
/// while let Some(msg) = inbox.recv().await {
///     let _ = conn.send(msg).await; // echo
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::Receiver<Message>,
}

impl Inbox {
    /// The next text or binary message; `None` once the connection is closing.
    pub async fn recv(&mut self) -> Option<Message> {
        self.rx.recv().await
    }
}

/// The sender side of an [`Inbox`], kept in the connection's typed state.
#[derive(Clone)]
struct InboxSender(mpsc::Sender<Message>);

/// How many messages wait for a closure route before the hub stops reading its socket.
const INBOX_CAPACITY: usize = 16;

/// A closure route as a service.
pub(crate) struct FnService<F> {
    pub(crate) handler: F,
}

impl<F, Fut> DynService for FnService<F>
where
    F: Fn(Connection, Inbox) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn dispatch(self: Arc<Self>, conn: Connection, event: Event) -> Handler {
        match event {
            Event::Open => {
                let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
                conn.insert(InboxSender(tx));
                let fut = (self.handler)(conn.clone(), Inbox { rx });
                tokio::spawn(async move {
                    match AssertUnwindSafe(fut).catch_unwind().await {
                        Ok(()) => conn.close(CloseCode::NORMAL, ""),
                        Err(_) => conn.close(CloseCode::INTERNAL_ERROR, "handler panicked"),
                    }
                });
                Box::pin(async { Ok(None) })
            }
            Event::Text(text) => forward(&conn, Message::Text(text)),
            Event::Binary(data) => forward(&conn, Message::Binary(data)),
            Event::Close(..) | Event::Error(_) => {
                conn.remove::<InboxSender>();
                Box::pin(async { Ok(None) })
            }
            Event::Idle => Box::pin(async { Ok(Some(Idle::Close)) }),
            Event::Ping(_) | Event::Pong(_) => Box::pin(async { Ok(None) }),
        }
    }
}

/// Hands a message to a closure route, waiting while its inbox is full.
fn forward(conn: &Connection, msg: Message) -> Handler {
    let tx = conn.get::<InboxSender>();
    Box::pin(async move {
        if let Some(InboxSender(tx)) = tx {
            let _ = tx.send(msg).await;
        }
        Ok(None)
    })
}
