//! Deployment health through `/v1`, with local upstreams behind instances
//! of the `openai` component: one answering 429 with `retry-after` until
//! told to recover, an address that refuses connections, a fast one and a
//! slow one. A `fallback` route answers every request from the first
//! healthy target, passing over the failing ones while they cool down
//! (`llmhost_deployment_state`, `GET /api/v1/routes`), and the recovered
//! one serves again once its cooldown ends; `weighted` follows its
//! weights over 1,000 requests; `least-busy` and `latency` prefer the fast
//! target.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::harness::{PATIENCE, Server};
use crate::instances::plugins_dir;
use crate::routes::{instance, refusing_origin};

/// An OpenAI-compatible upstream: answers after `delay`, or 429 with
/// `retry-after: 2` while `limiting`; records each request's model.
struct Upstream {
    addr: SocketAddr,
    state: Arc<UpstreamState>,
}

struct UpstreamState {
    delay: Duration,
    limiting: AtomicBool,
    models: Mutex<Vec<String>>,
}

impl Upstream {
    async fn start(delay: Duration, limiting: bool) -> Self {
        let state = Arc::new(UpstreamState {
            delay,
            limiting: AtomicBool::new(limiting),
            models: Mutex::default(),
        });
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(answer))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, state }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn served(&self, model: &str) -> usize {
        let models = self.state.models.lock().unwrap();
        models.iter().filter(|m| *m == model).count()
    }
}

async fn answer(State(state): State<Arc<UpstreamState>>, Json(body): Json<Value>) -> Response {
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    state.models.lock().unwrap().push(model.clone());
    if state.limiting.load(Ordering::SeqCst) {
        let error = json!({"error": {"message": "Rate limit reached", "type": "requests",
                                     "param": null, "code": "rate_limit_exceeded"}});
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "2")],
            Json(error),
        )
            .into_response();
    }
    tokio::time::sleep(state.delay).await;
    Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1741570283, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    }))
    .into_response()
}

const ROUTES: &str = r#"
[routes.first-healthy]
targets = [{ model = "limited/m" }, { model = "down/m" }, { model = "fast/m" }]
cooldown = { failures = 2, window_ms = 60000, cooldown_ms = 3000 }

[routes.split]
strategy = "weighted"
targets = [{ model = "fast/a", weight = 1 }, { model = "fast/b", weight = 3 }]

[routes.idle]
strategy = "least-busy"
targets = [{ model = "slow/idle" }, { model = "fast/idle" }]

[routes.quick]
strategy = "latency"
targets = [{ model = "slow/quick" }, { model = "fast/quick" }]
"#;

struct Setup {
    server: Server,
    limited: Upstream,
    fast: Upstream,
    slow: Upstream,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let limited = Upstream::start(Duration::ZERO, true).await;
    let fast = Upstream::start(Duration::ZERO, false).await;
    let slow = Upstream::start(Duration::from_millis(2000), false).await;
    let down = refusing_origin().await;
    let mut config = String::new();
    for (name, origin) in [
        ("limited", limited.origin()),
        ("down", down),
        ("fast", fast.origin()),
        ("slow", slow.origin()),
    ] {
        config.push_str(&instance(name, &origin, &format!("{origin}/v1")));
    }
    config.push_str(ROUTES);
    let file = dir.path().join("llmhost.toml");
    std::fs::write(&file, config).unwrap();
    let plugins = plugins_dir(dir.path());
    let server = Server::start(
        dir.path(),
        &[
            "--config",
            file.to_str().unwrap(),
            "--plugins-dir",
            &plugins,
        ],
    )
    .await;
    Setup {
        server,
        limited,
        fast,
        slow,
        _dir: dir,
    }
}

/// One whole `/v1` request; the target that answered.
async fn ask(server: &Server, model: &str) -> String {
    let response = server
        .http
        .post(server.url("/v1/chat/completions"))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let target = response
        .headers()
        .get("x-llmhost-target")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{model}: {body}");
    target.unwrap_or_else(|| panic!("no x-llmhost-target: {body}"))
}

/// The state `GET /api/v1/routes` gives a target of a route.
async fn state_of(server: &Server, route: &str, target: &str) -> String {
    let (status, body) = server.get_json("/api/v1/routes").await;
    assert_eq!(status, 200, "{body}");
    let route = body["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == route)
        .unwrap_or_else(|| panic!("no route {route}: {body}"));
    let target = route["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == target)
        .unwrap_or_else(|| panic!("no target {target}: {route}"));
    target["health"]["state"].as_str().unwrap().to_owned()
}

/// The value of the metric line that starts with `line_start`.
async fn metric(server: &Server, line_start: &str) -> f64 {
    let text = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no {line_start}in\n{text}"))
}

#[tokio::test]
async fn a_fallback_route_passes_over_cooling_targets_and_a_recovered_one_serves_again() {
    // Bound whole: the data directory must outlive the server.
    let Setup {
        server,
        limited,
        _dir,
        ..
    } = setup().await;
    // The first request meets the 429 (cooling the target for its
    // retry-after) and the refused connection (one failure of two).
    assert_eq!(ask(&server, "first-healthy").await, "fast/m");
    assert_eq!(limited.served("m"), 1);
    assert_eq!(
        state_of(&server, "first-healthy", "limited/m").await,
        "cooling_down"
    );
    assert_eq!(
        metric(&server, "llmhost_deployment_state{target=\"limited/m\"} ").await,
        2.0
    );
    // The second failure of the refusing one cools it down too.
    assert_eq!(ask(&server, "first-healthy").await, "fast/m");
    assert_eq!(
        state_of(&server, "first-healthy", "down/m").await,
        "cooling_down"
    );
    let failures = "llmhost_deployment_failures_total{target=\"down/m\"} ";
    assert!(metric(&server, failures).await >= 2.0);
    // While both cool down, every request goes straight to the healthy one.
    let asked_limited = limited.served("m");
    for _ in 0..20 {
        assert_eq!(ask(&server, "first-healthy").await, "fast/m");
        if state_of(&server, "first-healthy", "limited/m").await != "cooling_down" {
            break;
        }
        assert_eq!(
            limited.served("m"),
            asked_limited,
            "a cooling target is not asked"
        );
    }

    // It recovers; once its cooldown is over, one request probes it and it
    // serves again, first in the route's order.
    limited.state.limiting.store(false, Ordering::SeqCst);
    let started = Instant::now();
    while state_of(&server, "first-healthy", "limited/m").await == "cooling_down" {
        assert!(started.elapsed() < PATIENCE, "the cooldown never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ask(&server, "first-healthy").await, "limited/m");
    assert_eq!(
        state_of(&server, "first-healthy", "limited/m").await,
        "healthy"
    );
    assert_eq!(ask(&server, "first-healthy").await, "limited/m");
}

#[tokio::test]
async fn weighted_follows_its_weights_and_least_busy_and_latency_prefer_the_fast_target() {
    let Setup {
        server,
        fast,
        slow,
        _dir,
        ..
    } = setup().await;

    // 1,000 requests, eight at a time: `b` weighs 3 of 4.
    let server = &server;
    let chunks = futures::future::join_all((0..8).map(|_| async move {
        for _ in 0..125 {
            ask(server, "split").await;
        }
    }));
    chunks.await;
    let (a, b) = (fast.served("a"), fast.served("b"));
    assert_eq!(a + b, 1_000);
    let share = b as f64 / 1_000.0;
    assert!((share - 0.75).abs() <= 0.05, "b served {b} of 1000");

    // Least busy: four clients share 40 requests; a call of the slow
    // target holds its client, so while it runs the others go to the idle
    // fast one and take most of the requests.
    let left = &std::sync::atomic::AtomicUsize::new(40);
    let clients = futures::future::join_all((0..4).map(|_| async move {
        while left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            ask(server, "idle").await;
        }
    }));
    clients.await;
    let (to_fast, to_slow) = (fast.served("idle"), slow.served("idle"));
    assert_eq!(to_fast + to_slow, 40);
    assert!(to_fast > 3 * to_slow, "fast {to_fast}, slow {to_slow}");

    // Latency: once both were measured, the fast one serves.
    for _ in 0..20 {
        ask(server, "quick").await;
    }
    let (to_fast, to_slow) = (fast.served("quick"), slow.served("quick"));
    assert!(to_slow <= 1, "slow served {to_slow} after being measured");
    assert_eq!(to_fast + to_slow, 20);
    // What the route learnt is exported: the slow upstream answers after
    // 2 s, the fast one at once.
    let slow_s = metric(
        server,
        "llmhost_deployment_latency_seconds{target=\"slow/quick\"} ",
    )
    .await;
    let fast_s = metric(
        server,
        "llmhost_deployment_latency_seconds{target=\"fast/quick\"} ",
    )
    .await;
    assert!(slow_s >= 2.0, "slow/quick {slow_s} s");
    assert!(
        fast_s < slow_s / 4.0,
        "fast/quick {fast_s} s, slow/quick {slow_s} s"
    );
}
