//! A small blocking HTTP client over `wasi:http/outgoing-handler`.

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, HeaderError, IncomingBody, Method, OutgoingBody, OutgoingRequest,
    RequestOptions, Scheme, http_error_code,
};
use wasip2::io::streams::StreamError;

/// An outgoing request.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub method: String,
    /// `http://host[:port]/path?query` or `https://…`.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: "GET".into(),
            url: url.into(),
            ..Self::default()
        }
    }

    pub fn post_json(url: impl Into<String>, body: Vec<u8>) -> Self {
        Self {
            method: "POST".into(),
            url: url.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A response, read whole.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

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

/// Sends `request` and reads the whole response.
pub fn send(request: &Request) -> Result<Response, HttpError> {
    let outgoing = build(request)?;
    let body = outgoing
        .body()
        .map_err(|()| HttpError::InvalidRequest("body taken".into()))?;
    let future =
        outgoing_handler::handle(outgoing, Some(RequestOptions::new())).map_err(classify)?;
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
    let body = read_body(incoming)?;
    Ok(Response {
        status,
        headers,
        body,
    })
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

fn read_body(incoming: IncomingBody) -> Result<Vec<u8>, HttpError> {
    let mut bytes = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|()| HttpError::Transport("body stream taken".into()))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                // The stream's error carries the HTTP error code, if any.
                Err(StreamError::LastOperationFailed(err)) => {
                    return Err(match http_error_code(&err) {
                        Some(code) => classify(code),
                        None => HttpError::Transport(err.to_debug_string()),
                    });
                }
            }
        }
    }
    Ok(bytes)
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
