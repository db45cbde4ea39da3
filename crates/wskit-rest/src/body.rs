//! The body of requests and responses carried over a connection.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

use crate::error::BoxError;

/// A streamed HTTP body: what [`RestConnection`](crate::RestConnection) hands to the service it
/// serves (request bodies) and returns to its callers (response bodies).
///
/// # Example
/// ```
/// # async fn run() -> Result<(), wskit_rest::BoxError> {
/// use http_body_util::BodyExt;
/// use wskit_rest::Body;
///
/// let body = Body::from("hello");
/// assert_eq!(body.collect().await?.to_bytes(), "hello");
/// # Ok(()) }
/// ```
pub struct Body {
    inner: UnsyncBoxBody<Bytes, BoxError>,
}

impl Body {
    /// Wraps any body whose error converts into a [`BoxError`].
    ///
    /// # Example
    /// ```
    /// let body = wskit_rest::Body::new(http_body_util::Full::new(bytes::Bytes::from("x")));
    /// ```
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self {
            inner: body.map_err(Into::into).boxed_unsync(),
        }
    }

    /// An empty body.
    ///
    /// # Example
    /// ```
    /// use http_body::Body as _;
    /// assert!(wskit_rest::Body::empty().is_end_stream());
    /// ```
    #[must_use]
    pub fn empty() -> Self {
        Self::new(http_body_util::Empty::new())
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body").finish_non_exhaustive()
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self::new(http_body_util::Full::new(bytes))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Bytes::from_static(text.as_bytes()).into()
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Bytes::from(text).into()
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
