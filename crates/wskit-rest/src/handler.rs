//! The service a connection serves, with its types erased.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Request, Response, StatusCode};
use tower::{Service, ServiceExt};

use crate::body::Body;
use crate::error::BoxError;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A served `tower::Service`, boxed: each call clones the service, waits until it is ready and
/// calls it; a service error becomes a `500 Internal Server Error` naming it.
#[derive(Clone)]
pub(crate) struct Handler {
    call: Arc<dyn Fn(Request<Body>) -> BoxFuture<Response<Body>> + Send + Sync>,
}

impl Handler {
    pub(crate) fn new<S, B>(service: S) -> Self
    where
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let call = move |request: Request<Body>| -> BoxFuture<Response<Body>> {
            let service = service.clone();
            Box::pin(async move {
                match service.oneshot(request).await {
                    Ok(response) => response.map(Body::new),
                    Err(error) => {
                        let error: BoxError = error.into();
                        status_response(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            &format!("the service failed: {error}"),
                        )
                    }
                }
            })
        };
        Self {
            call: Arc::new(call),
        }
    }

    /// The handler of a connection that serves nothing: every request gets a
    /// `501 Not Implemented`.
    pub(crate) fn none() -> Self {
        let call = |_: Request<Body>| -> BoxFuture<Response<Body>> {
            Box::pin(async {
                status_response(
                    StatusCode::NOT_IMPLEMENTED,
                    "this end of the connection serves no API",
                )
            })
        };
        Self {
            call: Arc::new(call),
        }
    }

    /// Calls the service; a panic in it becomes a `500 Internal Server Error` instead of a
    /// request that never gets an answer.
    pub(crate) fn call(&self, request: Request<Body>) -> BoxFuture<Response<Body>> {
        let future = (self.call)(request);
        Box::pin(async move {
            // Unwind safety: after a panic the future is dropped, never polled again, and only
            // the panic's fact is used.
            match AssertUnwindSafe(future).catch_unwind().await {
                Ok(response) => response,
                Err(_) => {
                    status_response(StatusCode::INTERNAL_SERVER_ERROR, "the service panicked")
                }
            }
        })
    }
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Handler")
    }
}

/// A plain-text response with `status` and `message` as its body.
pub(crate) fn status_response(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(format!("{message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
