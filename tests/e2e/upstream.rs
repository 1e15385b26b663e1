//! Local HTTP servers standing in for the internet in egress tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// What the upstream saw: the Authorization header of every request.
#[derive(Clone, Default)]
pub(crate) struct Seen(Arc<Mutex<Vec<Option<String>>>>);

impl Seen {
    pub(crate) fn authorizations(&self) -> Vec<Option<String>> {
        self.0.lock().unwrap().clone()
    }
}

pub(crate) struct Upstream {
    pub addr: SocketAddr,
    pub seen: Seen,
}

impl Upstream {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves `/ok`, `/big` (2 MiB), `/stall` (a body that stops after a
    /// few bytes), `/redirect?to=URL` (302), `/reflect` (the request's
    /// Authorization as it came, URL-encoded and base64-encoded) and
    /// records authorizations.
    pub(crate) async fn start() -> Self {
        let seen = Seen::default();
        let app = Router::new()
            .route("/ok", get(|| async { "hello from upstream" }))
            .route("/big", get(|| async { "y".repeat(2 << 20) }))
            .route("/stall", get(stall))
            .route("/redirect", get(redirect))
            .route("/reflect", get(reflect))
            .layer(axum::middleware::from_fn_with_state(seen.clone(), record))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, seen }
    }
}

async fn record(
    State(seen): State<Seen>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let auth = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("?").to_owned());
    seen.0.lock().unwrap().push(auth);
    next.run(request).await
}

async fn stall() -> impl IntoResponse {
    let first = futures::stream::once(async {
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"partial"))
    });
    let body = Body::from_stream(futures::StreamExt::chain(first, futures::stream::pending()));
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
    (headers, body)
}

async fn redirect(
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> impl IntoResponse {
    let to = q.get("to").cloned().unwrap_or_default();
    (StatusCode::FOUND, [(header::LOCATION, to)])
}

/// What a careless (or hostile) upstream does: echoes the credential.
async fn reflect(headers: HeaderMap) -> String {
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("?").to_owned())
        .unwrap_or_default();
    let encoded: String = url::form_urlencoded::byte_serialize(auth.as_bytes()).collect();
    let base64 = base64(auth.as_bytes());
    let shouted = auth.to_uppercase();
    let spaced = encoded.replace('+', "%20").to_lowercase();
    format!(
        "you sent {auth}; url-encoded {encoded}; base64 {base64}; shouted {shouted}; \
         percent-encoded {spaced}"
    )
}

/// Standard base64 with padding, as an upstream would write it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}
