//! Accepting REST connections inside an axum application (feature `axum`).

use axum::response::Response;
use wskit::axum::WebSocketUpgrade;

use crate::connection::PROTOCOL;
use crate::server::RestServer;

impl RestServer {
    /// Answers a WebSocket upgrade extracted by axum: offers [`PROTOCOL`] (SwaggerSocket v1
    /// when the client does not ask for it), then runs the handshake and serves the connection
    /// as [`accept_websocket`](Self::accept_websocket) does, in its own task. Set
    /// `TCP_NODELAY` on the listener's connections (axum's `ListenerExt::tap_io`): requests
    /// and responses are small writes.
    ///
    /// # Example
    /// ```no_run
    /// use axum::routing::get;
    /// use wskit::axum::WebSocketUpgrade;
    /// use wskit_rest::{RestConnection, RestServer};
    ///
    /// # async fn run() {
    /// let api = axum::Router::new().route("/hello", get(|| async { "hi" }));
    /// let server = RestServer::new(RestConnection::builder().serve(api.clone()));
    /// let app = api.route("/rest", get(move |ws: WebSocketUpgrade| async move { server.upgrade(ws) }));
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
    /// axum::serve(listener, app).await.unwrap();
    /// # }
    /// ```
    pub fn upgrade(&self, ws: WebSocketUpgrade) -> Response {
        let server = self.clone();
        ws.protocols([PROTOCOL])
            .on_upgrade(move |socket| async move {
                if let Err(error) = server.accept_websocket(socket).await {
                    tracing::debug!(%error, "wskit-rest: a connection failed to open");
                }
            })
    }
}
