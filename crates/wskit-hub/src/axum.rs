//! Hosting the hub's services inside an axum application (feature `axum`).

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use wskit::axum::WebSocketUpgrade;

use crate::hub::Hub;
use crate::options::Rejection;
use crate::request::UpgradeRequest;

impl Hub {
    /// Answers an upgrade extracted by axum with the service registered on the request's path:
    /// 404 when there is none, then the origin check (403) and the authentication hook, as the
    /// standalone server does. The connection then runs in its own task.
    ///
    /// # Example
    /// ```no_run
    /// use axum::routing::get;
    /// use wskit::axum::WebSocketUpgrade;
    ///
    /// # async fn run(hub: wskit_hub::Hub) {
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/", get(|| async { "hello" }))
    ///     .route("/chat", get(move |ws: WebSocketUpgrade| async move { hub.upgrade(ws).await }));
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
    /// axum::serve(listener, app).await.unwrap();
    /// # }
    /// ```
    pub async fn upgrade(&self, ws: WebSocketUpgrade) -> Response {
        let Some(route) = self.route(ws.path()) else {
            self.inner().metrics.rejected("not_found");
            return rejection(&Rejection::new(404, "no WebSocket service on this path"));
        };
        let target = ws
            .uri()
            .path_and_query()
            .map_or_else(|| ws.path(), |pq| pq.as_str());
        // A copy: hyper's header values share its read buffer, which they would keep alive.
        let request = Arc::new(UpgradeRequest::from_map(
            target,
            ws.headers(),
            ws.peer_addr(),
        ));
        let admission = match self.admit(&route, &request).await {
            Ok(admission) => admission,
            Err((reason, refused)) => {
                self.inner().metrics.rejected(reason);
                return rejection(&refused);
            }
        };
        let mut ws = ws.server(route.server.clone());
        for (name, value) in &admission.headers {
            ws = ws.header(name.clone(), value.clone());
        }
        let hub = self.clone();
        let state = admission.state;
        // The connection's future itself, not an `async` block around it, which would keep
        // the socket twice (see `task.rs`).
        ws.on_upgrade(move |socket| {
            let request = Arc::try_unwrap(request).unwrap_or_else(|r| (*r).clone());
            hub.run(socket, &route, request, state)
        })
    }

    /// An axum `Router` with a `GET` route for each path registered now, each answered by
    /// [`upgrade`](Self::upgrade). Merge it into an application.
    ///
    /// # Example
    /// ```no_run
    /// # async fn run(hub: wskit_hub::Hub) {
    /// let app = axum::Router::new()
    ///     .route("/healthz", axum::routing::get(|| async { "ok" }))
    ///     .merge(hub.router());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
    /// axum::serve(
    ///     listener,
    ///     app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    /// )
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    pub fn router<S>(&self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let mut router = axum::Router::new();
        for path in self.paths() {
            let hub = self.clone();
            router = router.route(
                &path,
                get(move |ws: WebSocketUpgrade| async move { hub.upgrade(ws).await }),
            );
        }
        router
    }
}

fn rejection(refused: &Rejection) -> Response {
    let mut response = Response::builder()
        .status(refused.status)
        .header("content-type", "text/plain; charset=utf-8");
    for (name, value) in &refused.headers {
        response = response.header(name.as_str(), value.as_str());
    }
    response
        .body(Body::from(refused.body.clone()))
        .unwrap_or_else(|_| {
            // An invalid status or header from the hook: say so rather than panic.
            let mut fallback = Response::new(Body::from("invalid rejection from the service"));
            *fallback.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
}
