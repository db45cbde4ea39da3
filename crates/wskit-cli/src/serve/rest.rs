//! REST over WebSocket (`wskit_rest`) in `wskit serve`: the `/rest` endpoint, the `/api/rest`
//! gateway to the agents connected there, and the petstore demo.
//!
//! - `GET /rest` upgrades to a REST connection (the `wskit-rest.v1` subprotocol when the client
//!   offers it, SwaggerSocket v1 otherwise) behind the same access rule as `/api`: the bearer
//!   key when one is configured (401 before the upgrade), else loopback peers only (403); a
//!   browser `Origin` must be listed in `allowed_origins` (403). Both
//!   directions work on every connection: the client calls serve's HTTP API (`/api/...`,
//!   already authorised by the upgrade), and the server calls whatever API the client serves.
//! - `GET /api/rest` lists the connections of `/rest` (the agents: id, protocol, handshake
//!   metadata); `ANY /api/rest/{id}/{*path}` forwards an HTTP request over that connection and
//!   answers with the agent's response (404 unknown id, 502 agent gone, 504 timeout).
//! - With `--demo`, `/demo/petstore` serves the petstore of `super::demo` over plain HTTP,
//!   and `/demo/petstore/rest` serves the same router (the same store) over WebSocket, behind
//!   the same rules: the bearer key when one is configured, and for the upgrade the access rule
//!   of `/rest`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use wskit::axum::WebSocketUpgrade;
use wskit_rest::{RequestTimeout, RestConnection, RestServer};

use super::api::{self, AppState};

/// The path of the REST-over-WebSocket endpoint.
pub(crate) const REST_PATH: &str = "/rest";
/// Where the petstore demo is mounted.
#[cfg(feature = "demo")]
pub(crate) const DEMO_PATH: &str = "/demo/petstore";

/// The settings of this module, taken from the serve configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// How long `/api/rest/{id}/...` waits for the agent's response head.
    pub(crate) timeout: Duration,
    /// Heartbeat of the REST connections (interval, timeout); `None`: off.
    pub(crate) heartbeat: Option<(Duration, Duration)>,
    /// Time a client has to finish the REST handshake after the upgrade.
    pub(crate) handshake_timeout: Duration,
    /// Mount the petstore demo (never true without the `demo` feature: the configuration
    /// refuses `--demo` then).
    #[cfg_attr(
        not(feature = "demo"),
        expect(dead_code, reason = "read only to mount the demo")
    )]
    pub(crate) demo: bool,
    /// Browser origins allowed to open `/rest` (`*`: any); a request without `Origin` (not a
    /// browser) needs none.
    pub(crate) origins: Vec<String>,
    /// The largest request body the API takes over `/rest`, as over HTTP.
    pub(crate) max_body: usize,
}

/// The REST servers of `wskit serve`, to close their connections at shutdown.
#[derive(Debug, Clone)]
pub(crate) struct Rest {
    servers: Vec<RestServer>,
}

/// What [`access`] checks.
#[derive(Debug, Clone)]
struct Access {
    /// Whether an API key is configured (and then [`api::require_key`] checked it).
    keyed: bool,
    origins: Vec<String>,
}

#[derive(Debug, Clone)]
struct Gateway {
    server: RestServer,
    timeout: Duration,
}

// ===== impl Rest =====

impl Rest {
    /// The routes `/rest`, `/api/rest...` and (when enabled) the demo. `api` is served to the
    /// clients of `/rest`; `state` gives the access rule.
    pub(crate) fn router(state: &AppState, api: Router, settings: &Settings) -> (Self, Router) {
        let api = authorised(api, state.api_key.clone())
            .layer(axum::extract::DefaultBodyLimit::max(settings.max_body));
        let server = rest_server(RestConnection::builder().serve(api), settings);
        let gateway = Gateway {
            server: server.clone(),
            timeout: settings.timeout,
        };
        let upgrade = {
            let server = server.clone();
            get(move |ws: WebSocketUpgrade| async move { server.upgrade(ws) })
        };
        let router = Router::new()
            .route(REST_PATH, upgrade)
            .route_layer(middleware::from_fn_with_state(
                Access {
                    keyed: state.api_key.is_some(),
                    origins: settings.origins.clone(),
                },
                access,
            ))
            .merge(
                Router::new()
                    .route("/api/rest", get(list))
                    .route("/api/rest/{id}/", any(forward_root))
                    .route("/api/rest/{id}/{*path}", any(forward))
                    .with_state(gateway),
            )
            .route_layer(middleware::from_fn_with_state(
                state.clone(),
                api::require_key,
            ));
        let servers = vec![server];
        #[cfg(feature = "demo")]
        let (router, servers) = if settings.demo {
            let (demo, demo_server) = demo(state, settings);
            (router.merge(demo), [servers, vec![demo_server]].concat())
        } else {
            (router, servers)
        };
        (Self { servers }, router)
    }

    /// Closes every REST connection (1001, as the hub does its WebSockets) and waits up to `deadline` for them to end, at
    /// shutdown (the runtime stops after it: the close frames must be out before).
    pub(crate) async fn shutdown(&self, deadline: Duration) {
        let connections: Vec<RestConnection> = self
            .servers
            .iter()
            .flat_map(|server| {
                server
                    .ids()
                    .into_iter()
                    .filter_map(|id| server.connection(&id))
            })
            .collect();
        for connection in &connections {
            connection.close_with(wskit::CloseCode::GOING_AWAY, "server shutting down");
        }
        let all_closed = async {
            for connection in &connections {
                connection.closed().await;
            }
        };
        if tokio::time::timeout(deadline, all_closed).await.is_err() {
            tracing::warn!("REST connections still open after the drain timeout; dropping them");
        }
    }
}

// ===== routes =====

/// A REST server with the serve settings.
fn rest_server(builder: wskit_rest::Builder, settings: &Settings) -> RestServer {
    let builder = match settings.heartbeat {
        Some((interval, timeout)) => builder.heartbeat(interval, timeout),
        None => builder,
    };
    RestServer::new(builder).handshake_timeout(settings.handshake_timeout)
}

/// `api` as the clients of `/rest` reach it: the upgrade passed the key check, so each request
/// over the connection carries the key.
fn authorised(api: Router, key: Option<Arc<str>>) -> Router {
    let Some(key) = key else {
        return api;
    };
    let bearer = HeaderValue::try_from(format!("Bearer {key}")).map_or_else(
        |_| HeaderValue::from_static(""),
        |mut value| {
            value.set_sensitive(true);
            value
        },
    );
    api.layer(middleware::map_request(move |mut request: Request| {
        let bearer = bearer.clone();
        async move {
            request.headers_mut().insert(header::AUTHORIZATION, bearer);
            request
        }
    }))
}

/// The access rule of `/rest` after [`api::require_key`]: without an API key, loopback peers
/// only (403 otherwise; only possible behind a local proxy, since serve does not listen beyond
/// loopback without a key). And, key or not, no browser page from an origin not listed in
/// `allowed_origins` (403): a page's WebSocket carries no key, and would otherwise read the API
/// of a server open to local processes.
async fn access(State(access): State<Access>, request: Request, next: Next) -> Response {
    if !access.keyed {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| *peer);
        if !peer.is_some_and(|peer| peer.ip().is_loopback()) {
            return error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "without an API key, /rest is open to loopback peers only",
            );
        }
    }
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let listed = access
            .origins
            .iter()
            .any(|allowed| allowed == "*" || allowed.as_bytes() == origin.as_bytes());
        if !listed {
            return error(
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!(
                    "origin {:?} may not open /rest: list it in allowed_origins",
                    String::from_utf8_lossy(origin.as_bytes())
                ),
            );
        }
    }
    next.run(request).await
}

/// `GET /api/rest`: the connections of `/rest`, sorted by id.
async fn list(State(gateway): State<Gateway>) -> Response {
    let mut ids = gateway.server.ids();
    ids.sort();
    let agents: Vec<Value> = ids
        .into_iter()
        .filter_map(|id| {
            let connection = gateway.server.connection(&id)?;
            let metadata = gateway.server.metadata(&id)?;
            Some(json!({"id": id, "protocol": connection.protocol(), "metadata": metadata}))
        })
        .collect();
    api::json(StatusCode::OK, &json!({ "agents": agents }))
}

/// `ANY /api/rest/{id}/`: the agent's `/`.
async fn forward_root(
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    gateway.forward(&id, request).await
}

/// `ANY /api/rest/{id}/{*path}`.
async fn forward(
    State(gateway): State<Gateway>,
    Path((id, _)): Path<(String, String)>,
    request: Request,
) -> Response {
    gateway.forward(&id, request).await
}

// ===== impl Gateway =====

impl Gateway {
    /// Sends `request` over the connection `id`, with the path after `/api/rest/{id}` (as sent,
    /// still percent-encoded), the query, the headers minus hop-by-hop ones and the API key,
    /// and the body streamed; answers with the agent's response.
    async fn forward(&self, id: &str, request: Request) -> Response {
        let Some(connection) = self.server.connection(id) else {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no agent connected to {REST_PATH} with id {id:?}"),
            );
        };
        let (parts, body) = request.into_parts();
        let target = target(parts.uri.path(), parts.uri.query());
        let mut out = match axum::http::Request::builder()
            .method(parts.method)
            .uri(target)
            .body(wskit_rest::Body::new(body))
        {
            Ok(out) => out,
            Err(err) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    &format!("cannot forward this request: {err}"),
                );
            }
        };
        *out.headers_mut() = forwarded_headers(&parts.headers);
        out.extensions_mut().insert(RequestTimeout(self.timeout));
        match connection.oneshot(out).await {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                parts.headers = forwarded_headers(&parts.headers);
                Response::from_parts(parts, Body::new(body))
            }
            Err(err) => gateway_error(id, &err),
        }
    }
}

/// The agent's request target: the path after `/api/rest/{id}` and the query.
fn target(path: &str, query: Option<&str>) -> String {
    let after = path.strip_prefix("/api/rest/").unwrap_or_default();
    let tail = after.split_once('/').map_or("", |(_, tail)| tail);
    match query {
        Some(query) => format!("/{tail}?{query}"),
        None => format!("/{tail}"),
    }
}

/// The headers to pass on: without the hop-by-hop ones (RFC 9110 §7.6.1, and those the
/// `Connection` header names), `Host` (the connection sets its own) and `Authorization` (the
/// key of this server is not the agent's business).
fn forwarded_headers(headers: &HeaderMap) -> HeaderMap {
    const HOP_BY_HOP: &[&str] = &[
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "authorization",
    ];
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    let mut out = headers.clone();
    for name in HOP_BY_HOP {
        out.remove(*name);
    }
    for name in named {
        out.remove(name);
    }
    out
}

/// The answer for a failed forward: 504 on a timeout, 502 otherwise.
fn gateway_error(id: &str, err: &wskit_rest::Error) -> Response {
    let (status, code) = match err {
        wskit_rest::Error::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "agent_timeout"),
        wskit_rest::Error::InvalidRequest(_) | wskit_rest::Error::Body(_) => {
            (StatusCode::BAD_REQUEST, "bad_request")
        }
        _ => (StatusCode::BAD_GATEWAY, "agent_failed"),
    };
    error(status, code, &format!("agent {id:?}: {err}"))
}

/// An error answer in the API's form, `{"code": C, "message": M}`.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut response = api::json(status, &json!({"code": code, "message": message}));
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

// ===== the demo =====

/// The petstore under [`DEMO_PATH`] over HTTP, and at `{DEMO_PATH}/rest` over WebSocket, one
/// store for both. Every route needs the API key when one is configured; the upgrade also
/// follows the access rule of `/rest` (loopback peers without a key, listed browser origins).
#[cfg(feature = "demo")]
fn demo(state: &AppState, settings: &Settings) -> (Router, RestServer) {
    let pets = super::demo::router();
    let server = rest_server(RestConnection::builder().serve(pets.clone()), settings);
    let upgrade = {
        let server = server.clone();
        Router::new()
            .route(
                "/rest",
                get(move |ws: WebSocketUpgrade| async move { server.upgrade(ws) }),
            )
            .route_layer(middleware::from_fn_with_state(
                Access {
                    keyed: state.api_key.is_some(),
                    origins: settings.origins.clone(),
                },
                access,
            ))
    };
    let router = Router::new()
        .nest(DEMO_PATH, pets.merge(upgrade))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            api::require_key,
        ));
    (router, server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_keep_the_raw_path_and_the_query() {
        assert_eq!(target("/api/rest/abc/pets/1", None), "/pets/1");
        assert_eq!(target("/api/rest/abc/a%2Fb", Some("x=1")), "/a%2Fb?x=1");
        assert_eq!(target("/api/rest/abc/", None), "/");
    }

    #[test]
    fn hop_by_hop_headers_stay_here() {
        let mut headers = HeaderMap::new();
        headers.insert("connection", HeaderValue::from_static("close, x-private"));
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("authorization", HeaderValue::from_static("Bearer k"));
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        let out = forwarded_headers(&headers);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out["content-type"], "text/plain");
    }
}
