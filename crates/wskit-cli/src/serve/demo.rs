//! The petstore demo of `wskit serve --demo`: a small axum API with its OpenAPI document
//! (utoipa), served by [`super::rest`] over plain HTTP under `/demo/petstore` and over
//! WebSocket at `/demo/petstore/rest`, one store for both.
//!
//! The store is bounded: at most [`MAX_PETS`] pets (a further `POST /pets` answers 507
//! Insufficient Storage, `{"code":"store_full",...}`) and request bodies of at most
//! [`MAX_BODY`] bytes (413 Payload Too Large). Deleting pets makes room again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

/// The most pets the store holds.
pub(crate) const MAX_PETS: usize = 1_000;
/// The largest request body the demo takes (bytes).
pub(crate) const MAX_BODY: usize = 4 * 1024;

/// A pet.
#[derive(Debug, Clone, Serialize, ToSchema)]
struct Pet {
    /// Its id, assigned by the store.
    id: u64,
    /// Its name.
    name: String,
    /// A free-form tag ("dog", "cat").
    tag: Option<String>,
}

/// A pet to add.
#[derive(Debug, Deserialize, ToSchema)]
struct NewPet {
    /// Its name.
    name: String,
    /// A free-form tag.
    tag: Option<String>,
}

/// `GET /pets` query.
#[derive(Debug, Deserialize)]
struct ListQuery {
    /// At most this many pets.
    limit: Option<usize>,
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
struct ApiDoc;

#[derive(Debug, Default)]
struct Store {
    next: u64,
    pets: BTreeMap<u64, Pet>,
}

#[derive(Debug, Clone, Default)]
struct Shared(Arc<Mutex<Store>>);

impl Shared {
    /// The store; no handler panics while holding it, so a poisoned lock still holds a
    /// consistent store.
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The API: `/pets`, `/pets/{id}` and `/openapi.json`, on a fresh in-memory store.
pub(crate) fn router() -> Router {
    Router::new()
        .route("/pets", get(list_pets).post(create_pet))
        .route("/pets/{id}", get(get_pet).delete(delete_pet))
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Shared::default())
}

/// Lists the pets.
#[utoipa::path(get, path = "/pets", params(("limit" = Option<usize>, Query, description = "At most this many")),
    responses((status = 200, description = "The pets", body = [Pet])))]
async fn list_pets(State(store): State<Shared>, Query(query): Query<ListQuery>) -> Json<Vec<Pet>> {
    let store = store.lock();
    let limit = query.limit.unwrap_or(usize::MAX);
    Json(store.pets.values().take(limit).cloned().collect())
}

/// Adds a pet.
#[utoipa::path(post, path = "/pets", request_body = NewPet,
    responses((status = 201, description = "The pet added", body = Pet),
        (status = 413, description = "The body is larger than 4 KiB"),
        (status = 507, description = "The store is full (1,000 pets)")))]
async fn create_pet(State(store): State<Shared>, Json(new): Json<NewPet>) -> Response {
    let mut store = store.lock();
    if store.pets.len() >= MAX_PETS {
        let message = format!("the demo store holds at most {MAX_PETS} pets: delete some first");
        return (
            StatusCode::INSUFFICIENT_STORAGE,
            Json(json!({"code": "store_full", "message": message})),
        )
            .into_response();
    }
    store.next += 1;
    let pet = Pet {
        id: store.next,
        name: new.name,
        tag: new.tag,
    };
    store.pets.insert(pet.id, pet.clone());
    (StatusCode::CREATED, Json(pet)).into_response()
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
    match store.lock().pets.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;

    async fn post(router: &Router, body: String) -> StatusCode {
        let request = Request::post("/pets")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .expect("a request");
        let response = router.clone().oneshot(request).await;
        response.expect("infallible").status()
    }

    #[tokio::test]
    async fn the_store_is_bounded() {
        let router = router();
        for _ in 0..MAX_PETS {
            assert_eq!(
                post(&router, r#"{"name":"Rex"}"#.into()).await,
                StatusCode::CREATED
            );
        }
        assert_eq!(
            post(&router, r#"{"name":"Tom"}"#.into()).await,
            StatusCode::INSUFFICIENT_STORAGE
        );
        let delete = Request::delete("/pets/1").body(Body::empty()).unwrap();
        let deleted = router.clone().oneshot(delete).await.unwrap();
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            post(&router, r#"{"name":"Tom"}"#.into()).await,
            StatusCode::CREATED
        );
    }

    #[tokio::test]
    async fn large_bodies_get_413() {
        let router = router();
        let name = "x".repeat(MAX_BODY);
        let body = json!({ "name": name }).to_string();
        assert_eq!(post(&router, body).await, StatusCode::PAYLOAD_TOO_LARGE);
        let name = "x".repeat(MAX_BODY - 100);
        let body = json!({ "name": name }).to_string();
        assert_eq!(post(&router, body).await, StatusCode::CREATED);
    }
}
