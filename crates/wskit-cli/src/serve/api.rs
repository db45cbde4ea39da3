//! The HTTP side: the API for backends under `/api` (bearer key), the open read-only
//! `/api/stats`, `/metrics` and `/healthz`.
//!
//! Every answer of the API is JSON; errors are `{"code": C, "message": M}` with the status
//! that fits (400 bad body, 401 key, 404 unknown target).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::Uri;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use serde_json::{Value, json};
use wskit::{CloseCode, Message};
use wskit_hub::{Delivery, Hub, SendError};

use super::protocol::Outgoing;
use super::ws::WS_PATH;

/// What the HTTP handlers share.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) hub: Hub,
    /// `None`: the API is open (only allowed on loopback).
    pub(crate) api_key: Option<Arc<str>>,
    /// Pages of these origins (`allowed_origins`, `*` aside) may use the key-less API as
    /// well as this server's own.
    pub(crate) allowed_origins: Arc<[String]>,
    pub(crate) metrics: PrometheusHandle,
    pub(crate) started: Instant,
}

/// The routes of the API, stats, metrics and health.
pub(crate) fn router(state: AppState) -> Router {
    let mut protected = Router::new()
        .route("/api/broadcast", post(broadcast))
        .route("/api/groups", get(groups))
        .route("/api/groups/{group}", delete(delete_group))
        .route("/api/groups/{group}/messages", post(group_message))
        .route("/api/connections", get(connections))
        .route("/api/connections/{id}", delete(close_connection))
        .route("/api/connections/{id}/messages", post(connection_message))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    if state.api_key.is_none() {
        // Inside the key check: a request from another site is refused for its origin first.
        protected = protected.route_layer(middleware::from_fn(super::origin::require_json));
    }
    Router::new()
        .merge(protected)
        .route("/api/stats", get(stats))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// An error answer of the API.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_body", message)
    }

    fn bad_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_query", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json(
            self.status,
            &json!({"code": self.code, "message": self.message}),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Lets a request through when it carries the key, or when there is no key and it does not
/// come from another site's page (`Origin`: 403 `cross_origin`).
pub(crate) async fn require_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.api_key.is_none()
        && !super::origin::same_origin_or_none(request.headers())
        && !listed_origin(&state.allowed_origins, request.headers())
    {
        metrics::counter!("wskit_serve_refused_total", "reason" => "cross_origin").increment(1);
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin",
            "requests from another site's page are refused (the API has no key: only local \
             programs and this server's own pages may use it)",
        )
        .into_response();
    }
    if let Some(key) = &state.api_key {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer);
        match given {
            None => {
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "missing API key: send Authorization: Bearer KEY",
                )
                .into_response();
            }
            Some(given) if !same(given.trim().as_bytes(), key.as_bytes()) => {
                return ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "wrong API key")
                    .into_response();
            }
            Some(_) => {}
        }
    }
    next.run(request).await
}

/// Whether the request's `Origin` is one of `allowed` (compared without case).
fn listed_origin(allowed: &[String], headers: &axum::http::HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    allowed
        .iter()
        .any(|a| a != "*" && a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// The credentials of an `Authorization` value of the `Bearer` scheme (any case, RFC 9110
/// §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(credentials.trim())
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `message` a client gets from the API.
fn delivery_text(group: Option<&str>, data: Value) -> Message {
    Message::text(
        Outgoing::Message {
            group: group.map(str::to_owned),
            from: None,
            data,
        }
        .to_json(),
    )
}

/// Reads `{"data": ANY}`.
fn data(body: &Bytes) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| ApiError::bad_body(format!("expected {{\"data\": ...}}: {err}")))?;
    match value {
        Value::Object(mut fields) => fields
            .remove("data")
            .ok_or_else(|| ApiError::bad_body("missing field \"data\"")),
        _ => Err(ApiError::bad_body("expected a JSON object {\"data\": ...}")),
    }
}

fn delivered(delivery: Delivery) -> Response {
    json(
        StatusCode::OK,
        &json!({"delivered": delivery.delivered, "dropped": delivery.dropped}),
    )
}

/// `POST /api/broadcast`: to every connection of `/ws`.
async fn broadcast(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let data = data(&body)?;
    Ok(delivered(
        state.hub.broadcast(WS_PATH, delivery_text(None, data)),
    ))
}

/// `POST /api/groups/{group}/messages`.
async fn group_message(
    State(state): State<AppState>,
    Path(group): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let data = data(&body)?;
    // With --redis the group may have members on other nodes only. When Redis cannot be
    // asked, the local members get it (and the failed publish is counted).
    let exists = match state.hub.cluster_members(&group).await {
        Ok(members) => !members.is_empty(),
        Err(err) if state.hub.members(&group).is_empty() => return Err(unavailable(&err)),
        Err(_) => true,
    };
    if !exists {
        return Err(no_group(&group));
    }
    Ok(delivered(
        state
            .hub
            .send_to_group(&group, delivery_text(Some(&group), data)),
    ))
}

/// `DELETE /api/groups/{group}`: the members stay connected.
async fn delete_group(
    State(state): State<AppState>,
    Path(group): Path<String>,
) -> Result<Response, ApiError> {
    // On every node with --redis.
    match state.hub.cluster_remove_group(&group).await {
        Ok(Some(members)) => Ok(json(
            StatusCode::OK,
            &json!({"group": group, "removed": members}),
        )),
        Ok(None) => Err(no_group(&group)),
        Err(err) => Err(unavailable(&err)),
    }
}

fn no_group(group: &str) -> ApiError {
    ApiError::not_found(format!(
        "no group {group:?} (a group exists while it has members)"
    ))
}

/// `POST /api/connections/{id_or_name}/messages`.
async fn connection_message(
    State(state): State<AppState>,
    Path(target): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let data = data(&body)?;
    match state
        .hub
        .cluster_send(&target, delivery_text(None, data))
        .await
    {
        Ok(()) => Ok(json(StatusCode::OK, &json!({"delivered": 1, "dropped": 0}))),
        Err(SendError::Unavailable) => Err(not_here(&target)),
        Err(SendError::Full) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "queue_full",
            format!("{target:?} reads too slowly: the message was dropped"),
        )),
        Err(_) => Err(no_connection(&target)),
    }
}

/// `DELETE /api/connections/{id}`, with an optional body `{"code": C, "reason": R}`.
async fn close_connection(
    State(state): State<AppState>,
    Path(target): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (code, reason) = close_body(&body)?;
    // The id when the connection is here; on another node (--redis), the id or name given.
    let closing = state
        .hub
        .connection(&target)
        .map_or_else(|| target.clone(), |conn| conn.id().to_string());
    match state
        .hub
        .cluster_close(&target, CloseCode::from(code), &reason)
        .await
    {
        Ok(()) => Ok(json(
            StatusCode::OK,
            &json!({"closing": closing, "code": code, "reason": reason}),
        )),
        Err(SendError::Unavailable) => Err(not_here(&target)),
        Err(_) => Err(no_connection(&target)),
    }
}

fn not_here(target: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "broker_unavailable",
        format!(
            "{target:?} is not on this node and the other nodes cannot be reached now (Redis is \
             down); retry later"
        ),
    )
}

fn close_body(body: &Bytes) -> Result<(u16, String), ApiError> {
    const DEFAULT_REASON: &str = "closed by the server";
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((1000, DEFAULT_REASON.to_owned()));
    }
    let value: Value = serde_json::from_slice(body).map_err(|err| {
        ApiError::bad_body(format!("expected {{\"code\": C, \"reason\": R}}: {err}"))
    })?;
    let Value::Object(fields) = value else {
        return Err(ApiError::bad_body(
            "expected a JSON object {\"code\": C, \"reason\": R}",
        ));
    };
    let code = match fields.get("code") {
        None => 1000,
        Some(code) => code
            .as_u64()
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| *c == 1000 || (3000..=4999).contains(c))
            .ok_or_else(|| ApiError::bad_body("\"code\" must be 1000 or 3000-4999"))?,
    };
    let reason = match fields.get("reason") {
        None => DEFAULT_REASON.to_owned(),
        Some(Value::String(reason)) if reason.len() <= 123 => reason.clone(),
        Some(_) => {
            return Err(ApiError::bad_body(
                "\"reason\" must be a string of at most 123 bytes",
            ));
        }
    };
    Ok((code, reason))
}

fn no_connection(target: &str) -> ApiError {
    ApiError::not_found(format!("no connection with id or name {target:?}"))
}

/// `GET /api/groups?limit=N&after=NAME`: names and sizes by name, a page at a time
/// (`limit` default 1000, at most 10000; `next` names the last of the page when more
/// follow), of every node with `--redis`. While Redis cannot be asked, this node's groups,
/// marked `"partial": true`.
async fn groups(State(state): State<AppState>, uri: Uri) -> Result<Response, ApiError> {
    let (after, limit) = page_query(uri.query())?;
    let ((page, more), partial) = if state.hub.has_broker() {
        match state.hub.cluster_groups().await {
            Ok(groups) => (paged(groups, after.as_deref(), limit), None),
            Err(err) => (
                state.hub.groups_page(after.as_deref(), limit),
                Some(err.to_string()),
            ),
        }
    } else {
        (state.hub.groups_page(after.as_deref(), limit), None)
    };
    let next = more
        .then(|| page.last().map(|(name, _)| name.clone()))
        .flatten();
    let groups: Vec<Value> = page
        .into_iter()
        .map(|(name, size)| json!({"name": name, "size": size}))
        .collect();
    let mut body = json!({ "groups": groups });
    if let Some(next) = next {
        body["next"] = json!(next);
    }
    if let Some(error) = partial {
        body["partial"] = json!(true);
        body["error"] = json!(error);
    }
    Ok(json(StatusCode::OK, &body))
}

/// Largest page of `GET /api/groups`, and the page without `limit`.
const MAX_PAGE: usize = 10_000;
const DEFAULT_PAGE: usize = 1000;

/// `after` (percent-decoded) and `limit` of a listing's query.
fn page_query(query: Option<&str>) -> Result<(Option<String>, usize), ApiError> {
    let mut after = None;
    let mut limit = DEFAULT_PAGE;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "after" => {
                after = Some(
                    percent_decoded(value)
                        .ok_or_else(|| ApiError::bad_query("\"after\" is not valid UTF-8"))?,
                );
            }
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_query(format!("\"limit\" must be 1 to {MAX_PAGE}"))
                    })?;
            }
            _ => {}
        }
    }
    Ok((after, limit))
}

/// `text` with `%XX` and `+` decoded; `None` if that is not UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        // Two hex digits make a byte.
                        out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The page of `all` (any order) after `after`, by name.
fn paged(
    mut all: Vec<(String, usize)>,
    after: Option<&str>,
    limit: usize,
) -> (Vec<(String, usize)>, bool) {
    if let Some(after) = after {
        all.retain(|(name, _)| name.as_str() > after);
    }
    all.sort();
    let more = all.len() > limit;
    all.truncate(limit);
    (all, more)
}

fn unavailable(err: &wskit_hub::broker::BrokerError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "broker_unavailable",
        format!("the other nodes cannot be reached now: {err}; retry later"),
    )
}

/// `GET /api/connections?limit=N&after=ID`: ids, paths, names and groups by id, a page at a
/// time (as `GET /api/groups`), of every node with `--redis`. While Redis cannot be asked,
/// this node's connections, marked `"partial": true`.
async fn connections(State(state): State<AppState>, uri: Uri) -> Result<Response, ApiError> {
    type Row = (String, String, Vec<String>, Vec<String>);
    let (after, limit) = page_query(uri.query())?;
    let local = |hub: &Hub| -> (Vec<Row>, bool) {
        let (page, more) = hub.connections_page(after.as_deref(), limit);
        let rows = page
            .into_iter()
            .map(|conn| {
                let (mut groups, names) = hub.memberships(&conn);
                groups.sort();
                (conn.id().to_string(), conn.path().to_owned(), names, groups)
            })
            .collect();
        (rows, more)
    };
    let ((rows, more), partial) = if state.hub.has_broker() {
        match state.hub.cluster_connections().await {
            Ok(all) => {
                let mut all: Vec<Row> = all
                    .into_iter()
                    .map(|c| (c.id.to_string(), c.path, c.names, c.groups))
                    .filter(|row| after.as_deref().is_none_or(|after| row.0.as_str() > after))
                    .collect();
                all.sort();
                let more = all.len() > limit;
                all.truncate(limit);
                ((all, more), None)
            }
            Err(err) => (local(&state.hub), Some(err.to_string())),
        }
    } else {
        (local(&state.hub), None)
    };
    let next = more.then(|| rows.last().map(|row| row.0.clone())).flatten();
    let connections: Vec<Value> = rows
        .into_iter()
        .map(|(id, path, names, groups)| {
            json!({"id": id, "path": path, "name": names.first(), "groups": groups})
        })
        .collect();
    let mut body = json!({ "connections": connections });
    if let Some(next) = next {
        body["next"] = json!(next);
    }
    if let Some(error) = partial {
        body["partial"] = json!(true);
        body["error"] = json!(error);
    }
    Ok(json(StatusCode::OK, &body))
}

/// `GET /api/stats`: open without a key; only totals, nothing about any one client.
async fn stats(State(state): State<AppState>) -> Response {
    let stats = state.hub.stats();
    json(
        StatusCode::OK,
        &json!({
            "connections": stats.connections_open,
            "groups": state.hub.group_count(),
            "connections_accepted": stats.connections_accepted,
            "messages_received": stats.messages_received,
            "messages_sent": stats.messages_sent,
            "bytes_received": stats.bytes_received,
            "bytes_sent": stats.bytes_sent,
            "dropped": stats.dropped,
            "cluster": state.hub.has_broker(),
            "broker_publish_failures": stats.broker_publish_failures,
            "broker_reconnects": stats.broker_reconnects,
            "broker_messages_received": stats.broker_messages_received,
            "uptime_seconds": state.started.elapsed().as_secs(),
        }),
    )
}

/// `GET /metrics`: the Prometheus text format.
async fn metrics(State(state): State<AppState>) -> Response {
    super::collect_process_metrics();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// `GET /healthz`: 200 `ok`, 503 once shutdown has begun.
async fn healthz(State(state): State<AppState>) -> Response {
    if state.hub.is_shutting_down() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        assert_eq!(
            data(&Bytes::from_static(br#"{"data":[1]}"#)).unwrap(),
            json!([1])
        );
        assert_eq!(
            data(&Bytes::from_static(br#"{"data":null}"#)).unwrap(),
            Value::Null
        );
        assert!(data(&Bytes::from_static(b"{}")).is_err());
        assert!(data(&Bytes::from_static(b"")).is_err());
        assert!(data(&Bytes::from_static(b"[1]")).is_err());
        assert_eq!(
            close_body(&Bytes::new()).unwrap(),
            (1000, "closed by the server".to_owned())
        );
        assert_eq!(
            close_body(&Bytes::from_static(br#"{"code":4000,"reason":"bye"}"#)).unwrap(),
            (4000, "bye".to_owned())
        );
        assert!(close_body(&Bytes::from_static(br#"{"code":1006}"#)).is_err());
        assert!(close_body(&Bytes::from_static(br#"{"reason":7}"#)).is_err());
    }

    #[test]
    fn page_queries() {
        assert_eq!(page_query(None).unwrap(), (None, DEFAULT_PAGE));
        assert_eq!(
            page_query(Some("limit=2&after=a%20b+c%3A")).unwrap(),
            (Some("a b c:".to_owned()), 2)
        );
        assert!(page_query(Some("limit=0")).is_err());
        assert!(page_query(Some("limit=10001")).is_err());
        assert!(page_query(Some("after=%FF")).is_err());
        assert_eq!(percent_decoded("100%").as_deref(), Some("100%"));
        assert_eq!(percent_decoded("%4").as_deref(), Some("%4"));
    }

    #[test]
    fn bearer_scheme_in_any_case() {
        assert_eq!(bearer("Bearer k"), Some("k"));
        assert_eq!(bearer("bearer  k "), Some("k"));
        assert_eq!(bearer("BEARER k"), Some("k"));
        assert_eq!(bearer("Basic k"), None);
        assert_eq!(bearer("Bearerk"), None);
    }

    #[test]
    fn key_comparison() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
