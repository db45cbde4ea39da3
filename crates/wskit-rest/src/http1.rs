//! HTTP/1.1 message heads and chunked bodies (RFC 9112), as both protocols carry them.

use bytes::{BufMut, Bytes, BytesMut};
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version,
};

/// The most header lines a head may have.
const MAX_HEADERS: usize = 128;

/// Why a head could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// The head is longer than the limit.
    TooLarge,
    /// The head breaks HTTP/1.1 syntax; the string names the problem.
    Invalid(String),
}

/// Writes a request head: request line, `Host` (from the URI when the request has none),
/// headers, then `extra` headers and the blank line.
pub(crate) fn write_request_head<B>(
    request: &Request<B>,
    extra: &[(&str, &str)],
    out: &mut BytesMut,
) {
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    out.put_slice(request.method().as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(target.as_bytes());
    out.put_slice(b" HTTP/1.1\r\n");
    if !request.headers().contains_key(http::header::HOST) {
        let host = request
            .uri()
            .authority()
            .map_or("localhost", |a| a.as_str());
        out.put_slice(b"Host: ");
        out.put_slice(host.as_bytes());
        out.put_slice(b"\r\n");
    }
    write_headers(request.headers(), extra, out);
}

/// Writes a response head: status line, headers, then `extra` headers and the blank line.
pub(crate) fn write_response_head<B>(
    response: &Response<B>,
    extra: &[(&str, &str)],
    out: &mut BytesMut,
) {
    let status = response.status();
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.put_slice(b"\r\n");
    write_headers(response.headers(), extra, out);
}

fn write_headers(headers: &HeaderMap, extra: &[(&str, &str)], out: &mut BytesMut) {
    for (name, value) in headers {
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    for (name, value) in extra {
        out.put_slice(name.as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
}

/// Parses a request head at the start of `buf`: `Ok(None)` when it is not complete yet,
/// otherwise the request (without body) and the head's length.
pub(crate) fn parse_request_head(
    buf: &[u8],
    max: usize,
) -> Result<Option<(Request<()>, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > max => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(error) => return Err(HeadError::Invalid(format!("request head: {error}"))),
    };
    if len > max {
        return Err(HeadError::TooLarge);
    }
    let invalid = |what: &str| HeadError::Invalid(what.to_owned());
    let method = Method::from_bytes(parsed.method.unwrap_or_default().as_bytes())
        .map_err(|_| invalid("invalid method"))?;
    let target = parsed.path.unwrap_or_default();
    let mut builder = Request::builder()
        .method(method)
        .version(version(parsed.version));
    let map = builder
        .headers_mut()
        .ok_or_else(|| invalid("request head"))?;
    copy_headers(parsed.headers, map)?;
    let uri = match map.get(http::header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) if target.starts_with('/') => format!("http://{host}{target}"),
        _ => target.to_owned(),
    };
    let uri: Uri = uri
        .parse()
        .map_err(|_| HeadError::Invalid(format!("invalid request target {target:?}")))?;
    let request = builder
        .uri(uri)
        .body(())
        .map_err(|error| HeadError::Invalid(format!("request head: {error}")))?;
    Ok(Some((request, len)))
}

/// Parses a response head at the start of `buf`, like [`parse_request_head`].
pub(crate) fn parse_response_head(
    buf: &[u8],
    max: usize,
) -> Result<Option<(Response<()>, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > max => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(error) => return Err(HeadError::Invalid(format!("response head: {error}"))),
    };
    if len > max {
        return Err(HeadError::TooLarge);
    }
    let status = StatusCode::from_u16(parsed.code.unwrap_or_default())
        .map_err(|_| HeadError::Invalid("invalid status code".to_owned()))?;
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = version(parsed.version);
    copy_headers(parsed.headers, response.headers_mut())?;
    Ok(Some((response, len)))
}

fn version(minor: Option<u8>) -> Version {
    if minor == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    }
}

fn copy_headers(parsed: &[httparse::Header<'_>], map: &mut HeaderMap) -> Result<(), HeadError> {
    for header in parsed {
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| HeadError::Invalid(format!("invalid header name {:?}", header.name)))?;
        let value = HeaderValue::from_bytes(header.value)
            .map_err(|_| HeadError::Invalid(format!("invalid value of header {name}")))?;
        map.append(name, value);
    }
    Ok(())
}

/// How a message's body is delimited, from its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: no body for a request; the rest of the message for a response.
    None,
}

/// The body framing the headers declare.
pub(crate) fn framing(headers: &HeaderMap) -> Result<Framing, HeadError> {
    let chunked = headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .any(|v| {
            v.to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().contains("chunked"))
        });
    if chunked {
        return Ok(Framing::Chunked);
    }
    match headers.get(http::header::CONTENT_LENGTH) {
        None => Ok(Framing::None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map(Framing::Length)
            .ok_or_else(|| HeadError::Invalid("invalid Content-Length".to_owned())),
    }
}

/// Whether a response has no body whatever its headers say (RFC 9112 §6.3): the answer to a
/// `HEAD` request (its `Content-Length` is the size a `GET` would get), and every `1xx`,
/// `204 No Content` and `304 Not Modified`.
pub(crate) fn response_has_no_body(to_head: bool, status: StatusCode) -> bool {
    to_head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// Whether `status` forbids the `Content-Length` and `Transfer-Encoding` headers (RFC 9110
/// §8.6: `1xx` and `204`). A `304` may keep its `Content-Length`: it tells the size of the
/// representation the client has.
pub(crate) fn status_forbids_length(status: StatusCode) -> bool {
    status.is_informational() || status == StatusCode::NO_CONTENT
}

/// Why a chunked body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkError {
    /// The decoded body is longer than the limit.
    TooLarge,
    /// The chunked coding is broken; the string names the problem.
    Invalid(&'static str),
}

/// Decodes a whole chunked body at the start of `buf`: `Ok(None)` when it is not complete yet,
/// otherwise the body and the number of bytes it took (trailers included, then dropped).
pub(crate) fn decode_chunked(buf: &[u8], max: usize) -> Result<Option<(Bytes, usize)>, ChunkError> {
    let mut body = BytesMut::new();
    let mut pos = 0;
    loop {
        let Some(line_end) = find_crlf(&buf[pos..]) else {
            return if buf.len() - pos > 1024 {
                Err(ChunkError::Invalid("chunk size line too long"))
            } else {
                Ok(None)
            };
        };
        let line = &buf[pos..pos + line_end];
        let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
        let size_text = std::str::from_utf8(size_text)
            .map_err(|_| ChunkError::Invalid("chunk size is not hexadecimal"))?
            .trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ChunkError::Invalid("chunk size is not hexadecimal"))?;
        pos += line_end + 2;
        if size == 0 {
            // Trailers, each ending with CRLF, then an empty line.
            loop {
                let Some(end) = find_crlf(&buf[pos..]) else {
                    return Ok(None);
                };
                pos += end + 2;
                if end == 0 {
                    return Ok(Some((body.freeze(), pos)));
                }
            }
        }
        if body.len() + size > max {
            return Err(ChunkError::TooLarge);
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.put_slice(&buf[pos..pos + size]);
        pos += size;
        if &buf[pos..pos + 2] != b"\r\n" {
            return Err(ChunkError::Invalid("chunk data not followed by CRLF"));
        }
        pos += 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode_only_when_complete() {
        let wire = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
        for cut in 0..wire.len() {
            assert_eq!(decode_chunked(&wire[..cut], 100), Ok(None), "cut at {cut}");
        }
        let (body, used) = decode_chunked(wire, 100).unwrap().unwrap();
        assert_eq!(body, "hello world");
        assert_eq!(used, wire.len());
        assert_eq!(decode_chunked(wire, 8), Err(ChunkError::TooLarge));
        assert!(matches!(
            decode_chunked(b"zz\r\n", 8),
            Err(ChunkError::Invalid(_))
        ));
    }

    #[test]
    fn heads_round_trip() {
        let request = Request::post("http://api.test/pets?limit=2")
            .header("content-type", "application/json")
            .body(())
            .unwrap();
        let mut out = BytesMut::new();
        write_request_head(&request, &[("X-Correlation-Id", "7")], &mut out);
        assert_eq!(
            &out[..],
            b"POST /pets?limit=2 HTTP/1.1\r\nHost: api.test\r\ncontent-type: application/json\r\n\
              X-Correlation-Id: 7\r\n\r\n"
        );
        let (parsed, len) = parse_request_head(&out, 1024).unwrap().unwrap();
        assert_eq!(len, out.len());
        assert_eq!(parsed.uri(), "http://api.test/pets?limit=2");
        assert_eq!(parsed.headers()["x-correlation-id"], "7");
        assert!(matches!(
            parse_request_head(&out, 10),
            Err(HeadError::TooLarge)
        ));
        assert!(matches!(
            parse_request_head(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 1024),
            Err(HeadError::Invalid(_))
        ));
    }
}
