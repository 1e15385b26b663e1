//! Routes (`[routes.<alias>]`) through `/v1`: three instances of the
//! `openai` component, in front of a mock that answers 429, an address that
//! refuses connections and a healthy mock; a `fallback` route answers from
//! the first healthy target and says which (`x-llmhost-target`, `model`),
//! whole and streamed; a caller's error is never tried elsewhere; a context
//! too long goes to the context-window fallback; a route naming an unknown
//! instance stops `config check`, naming it.

use serde_json::{Value, json};

use crate::harness::{Server, run_llmhost};
use crate::instances::plugins_dir;
use crate::mock_vendors::{ANSWER, MockVendor, Vendor};

/// `[providers.<name>]` running `openai` against `base_url`.
pub(crate) fn instance(name: &str, origin: &str, base_url: &str) -> String {
    format!(
        "[providers.{name}]\nplugin = \"openai\"\nconfig = {{ base_url = \"{base_url}\" }}\n\
         egress = {{ allow = [\"{origin}\"], connect_timeout_ms = 2000 }}\n\n"
    )
}

const ROUTES: &str = r#"
[routes.smart]
strategy = "fallback"
targets = [{ model = "limited/rate-limited-forever" }, { model = "down/ok" }, { model = "healthy/ok" }]

[routes.strict]
targets = [{ model = "limited/bad-request" }, { model = "healthy/ok" }]

[routes.wide]
targets = [{ model = "limited/context" }, { model = "down/ok" }]
context_window_fallback = "healthy/ok"
"#;

/// A local address nothing listens on.
pub(crate) async fn refusing_origin() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

async fn chat(server: &Server, model: &str, stream: bool) -> reqwest::Response {
    server
        .http
        .post(server.url("/v1/chat/completions"))
        .json(&json!({"model": model, "stream": stream,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
}

fn target(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("x-llmhost-target")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_fallback_route_answers_from_the_first_healthy_target_and_never_retries_the_callers_fault()
 {
    let dir = tempfile::tempdir().unwrap();
    let (limited, healthy) = (
        MockVendor::start(Vendor::OpenAi).await,
        MockVendor::start(Vendor::OpenAi).await,
    );
    let down = refusing_origin().await;
    let config = format!(
        "{}{}{}{ROUTES}",
        instance("limited", &limited.origin(), &limited.base_url()),
        instance("down", &down, &format!("{down}/v1")),
        instance("healthy", &healthy.origin(), &healthy.base_url()),
    );
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

    // Whole: 429, then a refused connection, then the answer.
    let response = chat(&server, "smart", false).await;
    assert_eq!(response.status(), 200);
    assert_eq!(target(&response).as_deref(), Some("healthy/ok"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], ANSWER, "{body}");
    assert_eq!(body["model"], "healthy/ok");
    assert_eq!(limited.requests_for("rate-limited-forever").len(), 1);
    assert_eq!(healthy.requests_for("ok").len(), 1);

    // Streamed: the same walk, before the first text, but for the
    // rate-limited target, which cools down for its retry-after (an hour,
    // at most) and is passed over.
    let response = chat(&server, "smart", true).await;
    assert_eq!(response.status(), 200);
    assert_eq!(target(&response).as_deref(), Some("healthy/ok"));
    let text = response.text().await.unwrap();
    assert!(text.contains("\"model\":\"healthy/ok\""), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert_eq!(limited.requests_for("rate-limited-forever").len(), 1);
    assert_eq!(healthy.requests_for("ok").len(), 2);

    // The caller's fault is the answer: nothing else is asked.
    let response = chat(&server, "strict", false).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_request", "{error}");
    assert_eq!(limited.requests_for("bad-request").len(), 1);
    assert_eq!(healthy.requests_for("ok").len(), 2, "healthy was not asked");

    // A context too long skips the route's other targets for its fallback.
    let response = chat(&server, "wide", false).await;
    assert_eq!(response.status(), 200);
    assert_eq!(target(&response).as_deref(), Some("healthy/ok"));
    assert_eq!(healthy.requests_for("ok").len(), 3);

    // A direct call names its target the same way, whole and streamed.
    for stream in [false, true] {
        let response = chat(&server, "healthy/ok", stream).await;
        assert_eq!(response.status(), 200);
        assert_eq!(target(&response).as_deref(), Some("healthy/ok"), "{stream}");
    }

    // Neither a route nor `<instance>/<model>`: refused, naming the routes.
    let response = chat(&server, "clever", false).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("routes: smart, strict, wide"), "{message}");
}

#[tokio::test]
async fn a_route_naming_an_unknown_instance_stops_config_check_and_serve_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path());
    let file = dir.path().join("llmhost.toml");
    std::fs::write(
        &file,
        "[routes.smart]\ntargets = [{ model = \"openai/gpt-4o\" }, { model = \"groq/llama\" }]\n",
    )
    .unwrap();
    let (file, data) = (file.to_str().unwrap(), dir.path().to_str().unwrap());
    for args in [
        vec!["config", "check", file, "--plugins-dir", &plugins],
        vec![
            "serve",
            "--config",
            file,
            "--plugins-dir",
            &plugins,
            "--data-dir",
            data,
            "--listen",
            "127.0.0.1:0",
        ],
    ] {
        let out = run_llmhost(&args, &[]).await;
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(
                "routes.smart: targets: \"groq/llama\": no provider instance \"groq\" (instances: openai)"
            ),
            "{args:?}: {stderr}"
        );
    }
}
