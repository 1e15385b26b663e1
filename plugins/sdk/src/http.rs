//! A small blocking HTTP client over `wasi:http/outgoing-handler`: whole
//! responses (`send`) and bodies read as they arrive (`open`).

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, HeaderError, IncomingBody, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, Scheme, http_error_code,
};
use wasip2::io::streams::{InputStream, StreamError};

/// An outgoing request.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// `http://host[:port]/path?query` or `https://…`.
    pub url: String,
    /// Names and values, in order; the host refuses credentials headers.
    pub headers: Vec<(String, String)>,
    /// Sent as is.
    pub body: Vec<u8>,
}

impl Request {
    /// A `GET` without a body.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: "GET".into(),
            url: url.into(),
            ..Self::default()
        }
    }

    /// A `POST` of a JSON body.
    pub fn post_json(url: impl Into<String>, body: Vec<u8>) -> Self {
        Self {
            method: "POST".into(),
            url: url.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        }
    }

    /// The request with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A response, read whole.
#[derive(Clone, Debug)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// Names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why a request did not produce a whole response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The host refused the request (origin not in the manifest, refused
    /// address, response over the size limit).
    Denied(String),
    /// A header the plugin may not set (the host sets it, e.g. credentials).
    ForbiddenHeader(String),
    /// Connecting, the first byte or the body took too long.
    Timeout(String),
    /// The connection failed or the response was malformed.
    Transport(String),
    /// The request itself is malformed (bad URL, method).
    InvalidRequest(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Denied(m) => write!(f, "request denied by the host: {m}"),
            Self::ForbiddenHeader(h) => write!(f, "header {h:?} may not be set by a plugin"),
            Self::Timeout(m) => write!(f, "timed out: {m}"),
            Self::Transport(m) => write!(f, "transport error: {m}"),
            Self::InvalidRequest(m) => write!(f, "invalid request: {m}"),
        }
    }
}

/// A response whose body is read as it arrives.
pub struct StreamingResponse {
    /// The HTTP status.
    pub status: u16,
    /// Names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, not read yet.
    pub body: BodyReader,
}

impl StreamingResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Reads the rest of the body: for answers that are not streamed, such
    /// as errors.
    pub fn into_response(self) -> Result<Response, HttpError> {
        Ok(Response {
            status: self.status,
            headers: self.headers,
            body: self.body.read_to_end()?,
        })
    }
}

/// The body of a response, read piece by piece as the upstream sends it.
/// (Field order matters: a stream must be dropped before the body that owns
/// it, and the body before its response.)
pub struct BodyReader {
    stream: InputStream,
    _body: IncomingBody,
    _response: IncomingResponse,
    _future: FutureIncomingResponse,
    ended: bool,
}

impl BodyReader {
    /// The next piece of the body, as soon as some has arrived; `None` once
    /// the body has ended. A connection cut or stalled mid-body is an error.
    pub fn read(&mut self) -> Result<Option<Vec<u8>>, HttpError> {
        while !self.ended {
            match self.stream.blocking_read(64 * 1024) {
                Ok(chunk) if chunk.is_empty() => continue,
                Ok(chunk) => return Ok(Some(chunk)),
                Err(StreamError::Closed) => self.ended = true,
                // The stream's error carries the HTTP error code, if any.
                Err(StreamError::LastOperationFailed(err)) => {
                    return Err(match http_error_code(&err) {
                        Some(code) => classify(code),
                        // The host's description may be long (a backtrace).
                        None => {
                            HttpError::Transport(crate::errors::bounded(&err.to_debug_string()))
                        }
                    });
                }
            }
        }
        Ok(None)
    }

    /// The rest of the body.
    pub fn read_to_end(mut self) -> Result<Vec<u8>, HttpError> {
        let mut bytes = Vec::new();
        while let Some(chunk) = self.read()? {
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

/// Sends `request` and reads the whole response.
pub fn send(request: &Request) -> Result<Response, HttpError> {
    open(request)?.into_response()
}

/// Sends `request` and returns once the response's status and headers have
/// arrived; the body is read as it comes.
pub fn open(request: &Request) -> Result<StreamingResponse, HttpError> {
    let outgoing = build(request)?;
    let body = outgoing
        .body()
        .map_err(|()| HttpError::InvalidRequest("body taken".into()))?;
    // No options: the host's timeouts apply anyway (a plugin may only
    // shorten them), and wasmtime-wasi-http 48 never frees an options
    // handle passed here, so each would hold one of the call's handles.
    let future = outgoing_handler::handle(outgoing, None).map_err(classify)?;
    write_body(body, &request.body)?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(classify(code)),
        Some(Err(())) | None => return Err(HttpError::Transport("response already taken".into())),
    };
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| HttpError::Transport("body taken".into()))?;
    let stream = incoming
        .stream()
        .map_err(|()| HttpError::Transport("body stream taken".into()))?;
    Ok(StreamingResponse {
        status,
        headers,
        body: BodyReader {
            stream,
            _body: incoming,
            _response: response,
            _future: future,
            ended: false,
        },
    })
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn build(request: &Request) -> Result<OutgoingRequest, HttpError> {
    let (scheme, rest) = request.url.split_once("://").ok_or_else(|| {
        HttpError::InvalidRequest(format!("not an absolute URL: {}", request.url))
    })?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => {
            return Err(HttpError::InvalidRequest(format!(
                "unsupported scheme {other}"
            )));
        }
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let fields = Fields::new();
    for (name, value) in &request.headers {
        fields
            .append(name, value.as_bytes())
            .map_err(|err| match err {
                HeaderError::Forbidden => HttpError::ForbiddenHeader(name.clone()),
                other => HttpError::InvalidRequest(format!("header {name}: {other:?}")),
            })?;
    }
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method.as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "HEAD" => Method::Head,
        other => Method::Other(other.into()),
    };
    let bad = |what: &str| HttpError::InvalidRequest(format!("invalid {what} in {}", request.url));
    outgoing.set_method(&method).map_err(|()| bad("method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| bad("scheme"))?;
    outgoing
        .set_authority(Some(authority))
        .map_err(|()| bad("authority"))?;
    outgoing
        .set_path_with_query(Some(path))
        .map_err(|()| bad("path"))?;
    Ok(outgoing)
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), HttpError> {
    {
        let stream = body
            .write()
            .map_err(|()| HttpError::Transport("body stream taken".into()))?;
        for chunk in bytes.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| HttpError::Transport(format!("writing the request body: {e:?}")))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(classify)
}

fn classify(code: ErrorCode) -> HttpError {
    let text = format!("{code:?}");
    match code {
        ErrorCode::HttpRequestDenied
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::HttpResponseBodySize(_) => HttpError::Denied(text),
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => HttpError::Timeout(text),
        ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestMethodInvalid => {
            HttpError::InvalidRequest(text)
        }
        _ => HttpError::Transport(text),
    }
}
