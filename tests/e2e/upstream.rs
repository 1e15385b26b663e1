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
    /// few bytes), `/redirect?to=URL` (302) and records authorizations.
    pub(crate) async fn start() -> Self {
        let seen = Seen::default();
        let app = Router::new()
            .route("/ok", get(|| async { "hello from upstream" }))
            .route("/big", get(|| async { "y".repeat(2 << 20) }))
            .route("/stall", get(stall))
            .route("/redirect", get(redirect))
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
