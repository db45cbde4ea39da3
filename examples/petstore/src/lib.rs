//! The petstore API (an axum `Router` with its OpenAPI document from utoipa), and a client
//! tour that calls it through any `tower::Service` of HTTP requests: hyper's HTTP client or a
//! `wskit_rest` connection.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use serde::{Deserialize, Serialize};
use tower::{Service, ServiceExt};
use utoipa::{OpenApi, ToSchema};
use wskit_rest::RestServer;

/// The errors of the client tour (examples may use `anyhow`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A pet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pet {
    /// Its id, assigned by the store.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// A free-form tag ("dog", "cat").
    pub tag: Option<String>,
}

/// A pet to add.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewPet {
    /// Its name.
    pub name: String,
    /// A free-form tag.
    pub tag: Option<String>,
}

/// `GET /pets` query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// At most this many pets.
    pub limit: Option<usize>,
}

/// The OpenAPI document, derived from the handlers below.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Petstore",
        version = "1.0.0",
        description = "Served over HTTP and WebSocket"
    ),
    paths(list_pets, create_pet, get_pet, delete_pet),
    components(schemas(Pet, NewPet))
)]
pub struct ApiDoc;

#[derive(Debug, Default)]
struct Store {
    next: u64,
    pets: BTreeMap<u64, Pet>,
}

type Shared = Arc<Mutex<Store>>;

/// The API: `/pets`, `/pets/{id}` and `/openapi.json`, on a fresh in-memory store.
pub fn router() -> Router {
    Router::new()
        .route("/pets", get(list_pets).post(create_pet))
        .route("/pets/{id}", get(get_pet).delete(delete_pet))
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .with_state(Shared::default())
}

/// Lists the pets.
#[utoipa::path(get, path = "/pets", params(("limit" = Option<usize>, Query, description = "At most this many")),
    responses((status = 200, description = "The pets", body = [Pet])))]
async fn list_pets(State(store): State<Shared>, Query(query): Query<ListQuery>) -> Json<Vec<Pet>> {
    let store = store.lock().unwrap();
    let limit = query.limit.unwrap_or(usize::MAX);
    Json(store.pets.values().take(limit).cloned().collect())
}

/// Adds a pet.
#[utoipa::path(post, path = "/pets", request_body = NewPet,
    responses((status = 201, description = "The pet added", body = Pet)))]
async fn create_pet(
    State(store): State<Shared>,
    Json(new): Json<NewPet>,
) -> (StatusCode, Json<Pet>) {
    let mut store = store.lock().unwrap();
    store.next += 1;
    let pet = Pet {
        id: store.next,
        name: new.name,
        tag: new.tag,
    };
    store.pets.insert(pet.id, pet.clone());
    (StatusCode::CREATED, Json(pet))
}

/// Finds a pet by id.
#[utoipa::path(get, path = "/pets/{id}", params(("id" = u64, Path, description = "The pet's id")),
    responses((status = 200, description = "The pet", body = Pet), (status = 404, description = "No such pet")))]
async fn get_pet(
    State(store): State<Shared>,
    Path(id): Path<u64>,
) -> Result<Json<Pet>, StatusCode> {
    store
        .lock()
        .unwrap()
        .pets
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

/// Deletes a pet.
#[utoipa::path(delete, path = "/pets/{id}", params(("id" = u64, Path, description = "The pet's id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such pet")))]
async fn delete_pet(State(store): State<Shared>, Path(id): Path<u64>) -> StatusCode {
    match store.lock().unwrap().pets.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

/// The API over plain HTTP and, at `GET /rest`, over WebSocket (either protocol) on the same
/// port: each upgraded connection goes to `server`, which serves it the same API.
pub fn app(server: RestServer) -> Router {
    router().route(
        "/rest",
        get(move |ws: wskit::axum::WebSocketUpgrade| async move { server.upgrade(ws) }),
    )
}

/// Sends one request through `service` and returns the status and the whole body.
///
/// # Errors
/// When the service or the body fails.
pub async fn call<S, B>(
    service: &mut S,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), BoxError>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let response = service
        .ready()
        .await
        .map_err(Into::into)?
        .call(request)
        .await
        .map_err(Into::into)?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(Into::into)?
        .to_bytes();
    Ok((status, body))
}

/// The client tour, the same whatever carries it: adds two pets, reads one, lists them,
/// deletes one, reads the OpenAPI document. `base` is `http://host:port` (for a WebSocket
/// connection only its authority matters: it becomes the `Host` header). Returns what it saw,
/// one line per call.
///
/// # Errors
/// When a call fails or an answer is not the expected one.
pub async fn tour<S, B>(mut service: S, base: &str) -> Result<Vec<String>, BoxError>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let mut seen = Vec::new();
    let json = |value: serde_json::Value| Full::new(Bytes::from(value.to_string()));
    for (name, tag) in [("Rex", "dog"), ("Tom", "cat")] {
        let request = Request::post(format!("{base}/pets"))
            .header("content-type", "application/json")
            .body(json(serde_json::json!({"name": name, "tag": tag})))?;
        let (status, body) = call(&mut service, request).await?;
        let pet: Pet = serde_json::from_slice(&body)?;
        seen.push(format!(
            "POST /pets -> {status} {}",
            serde_json::to_string(&pet)?
        ));
    }
    let (status, body) = call(
        &mut service,
        Request::get(format!("{base}/pets/1")).body(Full::default())?,
    )
    .await?;
    seen.push(format!(
        "GET /pets/1 -> {status} {}",
        String::from_utf8_lossy(&body)
    ));
    let (status, body) = call(
        &mut service,
        Request::get(format!("{base}/pets?limit=10")).body(Full::default())?,
    )
    .await?;
    let pets: Vec<Pet> = serde_json::from_slice(&body)?;
    seen.push(format!("GET /pets -> {status} {} pets", pets.len()));
    let (status, _) = call(
        &mut service,
        Request::delete(format!("{base}/pets/2")).body(Full::default())?,
    )
    .await?;
    seen.push(format!("DELETE /pets/2 -> {status}"));
    let (status, _) = call(
        &mut service,
        Request::get(format!("{base}/pets/2")).body(Full::default())?,
    )
    .await?;
    seen.push(format!("GET /pets/2 -> {status}"));
    let (status, body) = call(
        &mut service,
        Request::get(format!("{base}/openapi.json")).body(Full::default())?,
    )
    .await?;
    let doc: serde_json::Value = serde_json::from_slice(&body)?;
    let paths: Vec<&String> = doc["paths"]
        .as_object()
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    seen.push(format!(
        "GET /openapi.json -> {status} {} paths {paths:?}",
        doc["info"]["title"]
    ));
    Ok(seen)
}
