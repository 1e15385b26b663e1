//! Local stand-ins for the LLM vendors' APIs, answering in each vendor's
//! documented wire format (OpenAI Chat Completions, Anthropic Messages,
//! Ollama `/api/chat`, Gemini `generateContent`), whole (`whole`) or
//! streamed when the request asks for it (`streamed`: OpenAI and Anthropic
//! SSE with `"stream": true`, Ollama NDJSON with `"stream": true`, Gemini
//! `streamGenerateContent?alt=sse`).
//!
//! The model name in the request picks the answer (`ok`, `length`, `tool`,
//! `filtered`, `context`, `bad-request`, `unauthorized`, `forbidden`,
//! `missing`, `rate-limited`, `rate-limited-forever`, `flaky`, `broken`, `unavailable`, `overloaded`,
//! `bad-gateway`, `gateway-timeout`, `malformed`, `half-json`, `truncated`,
//! `stalls`, `fails-midway`, `midway-then-ok`, `unfinished`, `slow`, `gated`,
//! `ignores-stream`: a whole JSON answer even to a streamed request;
//! `round-trip`: a call of `get_weather` until the request carries a tool
//! result in the vendor's shape, then the answer; `structured`: the answer
//! `STRUCTURED`, a JSON object); every request is recorded so that tests
//! can check what the plugin sent and what the host added, and every
//! accepted TCP connection is counted. `tls` serves the same over TLS, h2
//! or HTTP/1.1 as ALPN picks, with a certificate from a test CA.

mod streamed;
mod tls;
mod whole;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, Version};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use serde_json::Value;
use tokio::sync::Semaphore;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Vendor {
    OpenAi,
    Anthropic,
    Ollama,
    Gemini,
}

impl Vendor {
    pub(crate) const ALL: [Vendor; 4] = [Self::OpenAi, Self::Anthropic, Self::Ollama, Self::Gemini];

    /// The plugin's name.
    pub(crate) fn plugin(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Ollama => "ollama",
            Self::Gemini => "gemini",
        }
    }

    /// The path prefix of the API under the origin (what `base_url` adds).
    fn prefix(self) -> &'static str {
        match self {
            Self::OpenAi | Self::Anthropic => "/v1",
            Self::Ollama => "",
            Self::Gemini => "/v1beta",
        }
    }
}

/// The text every successful answer carries.
pub(crate) const ANSWER: &str = "Hello from the mock upstream.";
/// The pieces a streamed answer sends it in.
pub(crate) const PIECES: [&str; 4] = ["Hello", " from the", " mock", " upstream."];
/// The text of a `structured` answer: a JSON object.
pub(crate) const STRUCTURED: &str = r#"{"city":"Paris","celsius":22}"#;
/// The usage every successful answer reports: (input, output).
pub(crate) const USAGE: (u64, u64) = (9, 12);

/// How a successful answer finishes.
#[derive(Clone, Copy)]
enum Finish {
    Stop,
    Length,
    Tool,
    /// Anthropic's `refusal` stop reason.
    Refusal,
}

/// One request as the upstream received it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub method: String,
    /// The path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Null` when it was not JSON).
    pub body: Value,
    pub model: String,
    /// Whether the request asked for a streamed answer.
    pub stream: bool,
    /// The protocol that carried it (`HTTP/1.1`, `HTTP/2.0`).
    pub version: String,
}

impl Recorded {
    /// Every value of the header `name`.
    pub(crate) fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

struct Mock {
    vendor: Vendor,
    requests: Mutex<Vec<Recorded>>,
    /// `gated` answers wait here halfway until the test releases them.
    gate: Semaphore,
    /// TCP connections accepted.
    connections: AtomicUsize,
}

pub(crate) use tls::TestCa;

pub(crate) struct MockVendor {
    pub addr: SocketAddr,
    mock: Arc<Mock>,
    /// `http`, or `https` for a TLS mock.
    scheme: &'static str,
}

impl MockVendor {
    pub(crate) async fn start(vendor: Vendor) -> Self {
        let mock = Mock::new(vendor);
        let app = mock.app();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counted = mock.clone();
        let listener = listener.tap_io(move |_| {
            counted.connections.fetch_add(1, Ordering::Relaxed);
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            mock,
            scheme: "http",
        }
    }

    pub(crate) fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// What the plugin's `base_url` must be.
    pub(crate) fn base_url(&self) -> String {
        format!("{}{}", self.origin(), self.mock.vendor.prefix())
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.mock.requests.lock().unwrap().clone()
    }

    pub(crate) fn requests_for(&self, model: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.model == model)
            .collect()
    }

    /// TCP connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.mock.connections.load(Ordering::Relaxed)
    }

    /// Lets one waiting (or future) `gated` answer finish.
    pub(crate) fn release(&self) {
        self.mock.gate.add_permits(1);
    }
}

impl Mock {
    fn new(vendor: Vendor) -> Arc<Self> {
        Arc::new(Mock {
            vendor,
            requests: Mutex::new(Vec::new()),
            gate: Semaphore::new(0),
            connections: AtomicUsize::new(0),
        })
    }

    fn app(self: &Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }
}

async fn handle(
    State(mock): State<Arc<Mock>>,
    method: Method,
    version: Version,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let vendor = mock.vendor;
    let path = uri.path().to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (model, stream) = match vendor {
        Vendor::Gemini => {
            let rest = path.strip_prefix("/v1beta/models/");
            let whole = rest.and_then(|r| r.strip_suffix(":generateContent"));
            let streamed = rest
                .and_then(|r| r.strip_suffix(":streamGenerateContent"))
                .filter(|_| uri.query() == Some("alt=sse"));
            (whole.or(streamed).map(str::to_owned), streamed.is_some())
        }
        _ => {
            let expected = match vendor {
                Vendor::OpenAi => "/v1/chat/completions",
                Vendor::Anthropic => "/v1/messages",
                _ => "/api/chat",
            };
            let model = (path == expected)
                .then(|| body["model"].as_str().map(str::to_owned))
                .flatten();
            (model, body["stream"] == true)
        }
    };
    let answered = has_tool_result(vendor, &body);
    let recorded = Recorded {
        method: method.to_string(),
        // Origin form, as HTTP/1.1 sends it (h2's URI is whole).
        path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_owned()))
            .collect(),
        body,
        model: model.clone().unwrap_or_default(),
        stream,
        version: format!("{version:?}"),
    };
    let seen_before = {
        let mut requests = mock.requests.lock().unwrap();
        let n = requests
            .iter()
            .filter(|r| r.model == recorded.model)
            .count();
        requests.push(recorded);
        n
    };
    let Some(model) = model.filter(|_| method == Method::POST) else {
        // Not the vendor's endpoint: the test's expectations will fail.
        return (
            StatusCode::IM_A_TEAPOT,
            format!("unexpected {method} {uri}"),
        )
            .into_response();
    };
    // A round trip's second turn is answered as `ok` is.
    let model = match model.as_str() {
        "round-trip" if answered => "round-trip-answered".to_owned(),
        _ => model,
    };
    if stream {
        streamed::answer(&mock, &model, seen_before).await
    } else {
        whole::answer(&mock, &model, seen_before).await
    }
}

/// Whether the conversation carries a tool's result, in the vendor's shape.
fn has_tool_result(vendor: Vendor, body: &Value) -> bool {
    let turns = match vendor {
        Vendor::Gemini => &body["contents"],
        _ => &body["messages"],
    };
    let turns = turns.as_array().map_or(&[][..], Vec::as_slice);
    turns.iter().any(|turn| match vendor {
        Vendor::OpenAi | Vendor::Ollama => turn["role"] == "tool",
        Vendor::Anthropic => turn["content"]
            .as_array()
            .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result")),
        Vendor::Gemini => turn["parts"]
            .as_array()
            .is_some_and(|parts| parts.iter().any(|p| p.get("functionResponse").is_some())),
    })
}
