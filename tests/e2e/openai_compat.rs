//! The OpenAI-compatible endpoints, spoken to in OpenAI's wire format: raw
//! HTTP, and the official `openai` Python SDK.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::harness::Server;
use crate::mock_vendors::{ANSWER, MockVendor, PIECES, Vendor};
use crate::providers;

async fn chat(server: &Server, body: &Value) -> reqwest::Response {
    server
        .http
        .post(server.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_chat_completion_answers_in_openai_format_with_the_host_overhead() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let body = json!({
        "model": "echo/echo",
        "messages": [{"role": "developer", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "there"}]}],
        "temperature": 0.2, "n": 1, "seed": 7
    });
    let response = chat(&server, &body).await;
    assert_eq!(response.status().as_u16(), 200);
    let overhead: u64 = response.headers()["x-llmhost-overhead-us"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(overhead > 0);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["model"], "echo/echo");
    assert_eq!(answer["choices"][0]["message"]["role"], "assistant");
    assert_eq!(answer["choices"][0]["message"]["content"], "hello there");
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(answer["usage"]["completion_tokens"], 2);
    assert!(
        server.all_tasks().await.is_empty(),
        "the synchronous path stores nothing"
    );
}

#[tokio::test]
async fn a_streamed_chat_completion_is_sse_chunks_ending_with_done() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let body = json!({"model": "echo/echo", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "streamed words"}]});
    let response = chat(&server, &body).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = response.text().await.unwrap();
    let chunks = chunks(&text);
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0)?["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "streamed words");
    assert!(chunks.iter().any(|c| {
        c["choices"]
            .get(0)
            .is_some_and(|ch| ch["finish_reason"] == "stop")
    }));
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 2);
}

/// The `data:` payloads of an SSE body, without the final `[DONE]`.
fn chunks(text: &str) -> Vec<Value> {
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{text}");
    data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn a_streaming_provider_sends_one_chunk_per_piece() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let body = json!({"model": "echo/echo-drip:50", "stream": true,
                      "messages": [{"role": "user", "content": "a stream of five words"}]});
    let response = chat(&server, &body).await;
    assert_eq!(response.status().as_u16(), 200);
    // That pieces arrive while the rest is still being generated is shown
    // deterministically by provider_streams (an upstream that holds the
    // rest until the first piece was seen); here: one chunk per piece.
    let text = response.text().await.unwrap();
    let pieces: Vec<String> = chunks(&text)
        .iter()
        .filter_map(|c| {
            Some(
                c["choices"].get(0)?["delta"]["content"]
                    .as_str()?
                    .to_owned(),
            )
        })
        .filter(|p| !p.is_empty())
        .collect();
    assert_eq!(pieces, ["a ", "stream ", "of ", "five ", "words"], "{text}");
}

#[tokio::test]
async fn a_stream_that_fails_before_any_text_is_an_ordinary_error_response() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let body = json!({"model": "echo/echo-error:rate_limited", "stream": true,
                      "messages": [{"role": "user", "content": "x"}]});
    let response = chat(&server, &body).await;
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
}

#[tokio::test]
async fn openai_endpoint_errors_use_openai_format_and_the_error_table() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let cases = [
        (
            json!({"model": "nope/m", "messages": [{"role": "user", "content": "x"}]}),
            404,
            "provider_not_found",
            "not_found_error",
        ),
        (
            json!({"model": "echo/echo-error:rate_limited", "messages": [{"role": "user", "content": "x"}]}),
            429,
            "rate_limited",
            "rate_limit_error",
        ),
        (
            json!({"model": "echo/echo-error:invalid_request", "messages": [{"role": "user", "content": "x"}]}),
            400,
            "invalid_request",
            "invalid_request_error",
        ),
        (
            json!({"model": "echo/echo-error:upstream_unavailable", "messages": [{"role": "user", "content": "x"}]}),
            503,
            "upstream_unavailable",
            "api_error",
        ),
        (
            json!({"model": "echo", "messages": [{"role": "user", "content": "x"}]}),
            400,
            "invalid_request",
            "invalid_request_error",
        ),
        (
            json!({"model": "echo/echo", "messages": []}),
            400,
            "invalid_request",
            "invalid_request_error",
        ),
        (
            json!({"model": "echo/echo", "messages": [{"role": "robot", "content": "x"}]}),
            400,
            "invalid_request",
            "invalid_request_error",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}]}),
            400,
            "invalid_request",
            "invalid_request_error",
        ),
    ];
    for (body, status, code, kind) in cases {
        let response = chat(&server, &body).await;
        assert_eq!(response.status().as_u16(), status, "{body}");
        let retry_after = response.headers().get("retry-after").cloned();
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{body}: {error}");
        assert_eq!(error["error"]["type"], kind, "{body}: {error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        if code == "rate_limited" {
            assert_eq!(retry_after.expect("Retry-After"), "1");
        }
        if code == "provider_not_found" {
            assert!(
                error["error"]["message"].as_str().unwrap().contains("echo"),
                "lists installed: {error}"
            );
        }
    }
}

#[tokio::test]
async fn models_lists_every_provider_model_as_provider_slash_model() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let (status, list) = server.get_json("/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"echo/echo"), "{ids:?}");
}

/// A virtualenv with the official `openai` SDK from PyPI, made once under
/// target/. `None` (skipped) when Python or PyPI is not available here,
/// except under CI.
fn openai_sdk_python() -> Option<PathBuf> {
    venv_python("test-venv", &["openai>=1.40,<3"])
}

/// `target/<name>`, a virtualenv with `packages` from PyPI, made once; its
/// python. `None` (skipped) when Python or PyPI is not available here,
/// except under CI.
pub(crate) fn venv_python(name: &str, packages: &[&str]) -> Option<PathBuf> {
    // Tests run in parallel threads of this process: one makes a venv
    // while the others wait for it (two `python3 -m venv` on one directory
    // break each other).
    static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _setup = SETUP
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(name);
    let python = venv.join("bin/python");
    let ready = venv.join(".installed");
    let ok = |cmd: &mut std::process::Command| cmd.status().is_ok_and(|s| s.success());
    if !ready.exists() {
        let made = ok(std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv))
            && ok(std::process::Command::new(&python)
                .args(["-m", "pip", "install", "--quiet"])
                .args(packages));
        if !made {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI needs python3 and {packages:?} from PyPI"
            );
            eprintln!("skipped: could not install {packages:?}");
            return None;
        }
        std::fs::write(&ready, b"").unwrap();
    }
    Some(python)
}

/// Asks for `argv[2]` whole, then streamed (printing the text and how many
/// pieces it came in), then from a provider that does not exist.
const SDK_SCRIPT: &str = r#"
import sys, openai
client = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused")
messages = [{"role": "user", "content": "hello from the sdk"}]
whole = client.chat.completions.create(model=sys.argv[2], messages=messages)
print(whole.choices[0].message.content)
parts = client.chat.completions.create(model=sys.argv[2], messages=messages, stream=True)
pieces = [c.choices[0].delta.content for c in parts if c.choices and c.choices[0].delta.content]
print("".join(pieces))
print(len(pieces), "pieces")
try:
    client.chat.completions.create(model="nope/" + sys.argv[2], messages=messages)
except openai.NotFoundError as e:
    print("not found:", e.body["code"])
"#;

/// Runs `SDK_SCRIPT` against `server` for `model`; its output lines.
async fn sdk_lines(python: &PathBuf, server: &Server, model: &str) -> Vec<String> {
    python_lines(python, SDK_SCRIPT, &[&server.base, model]).await
}

/// Runs a Python `script` with `args`; its output lines, once it has
/// exited successfully (else the test fails with both of its outputs).
pub(crate) async fn python_lines(python: &PathBuf, script: &str, args: &[&str]) -> Vec<String> {
    let output = tokio::process::Command::new(python)
        .args(["-c", script])
        .args(args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout.lines().map(str::to_owned).collect()
}

pub(crate) async fn sdk_python() -> Option<PathBuf> {
    tokio::task::spawn_blocking(openai_sdk_python)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_official_openai_sdk_gets_the_same_text_whole_and_streamed() {
    let Some(python) = sdk_python().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    assert_eq!(
        sdk_lines(&python, &server, "echo/echo").await,
        [
            "hello from the sdk",
            "hello from the sdk",
            "4 pieces",
            "not found: provider_not_found"
        ]
    );
}

/// The `openai` plugin in front of a mock OpenAI upstream: the SDK's whole
/// answer comes from the plugin's `complete`, the streamed one from its
/// stream, piece by piece as the upstream sent them.
#[tokio::test]
async fn the_official_openai_sdk_gets_the_same_text_from_the_openai_plugin_both_ways() {
    let Some(python) = sdk_python().await else {
        return;
    };
    let mock = MockVendor::start(Vendor::OpenAi).await;
    let dir = tempfile::tempdir().unwrap();
    let server = providers::serve(dir.path(), Vendor::OpenAi, &mock, "sk-sdk").await;
    let pieces = format!("{} pieces", PIECES.len());
    assert_eq!(
        sdk_lines(&python, &server, "openai/ok").await,
        [ANSWER, ANSWER, &pieces, "not found: provider_not_found"]
    );
    let streamed: Vec<bool> = mock.requests().iter().map(|r| r.stream).collect();
    assert_eq!(streamed, [false, true], "whole, then streamed");
}

/// Counts the SDK's HTTP requests for one call that fails upstream with
/// `authentication` (a 502, which the SDK retries unless told not to).
const SDK_RETRY_SCRIPT: &str = r#"
import sys, httpx, openai
requests = []
http = httpx.Client(event_hooks={"request": [requests.append]})
client = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused", http_client=http, max_retries=2)
try:
    client.chat.completions.create(model=sys.argv[2], messages=[{"role": "user", "content": "x"}])
except openai.APIStatusError as e:
    print(e.status_code, e.body["code"], len(requests), "requests")
"#;

#[tokio::test]
async fn the_official_openai_sdk_asks_once_for_an_upstream_authentication_failure() {
    let Some(python) = sdk_python().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let output = tokio::process::Command::new(&python)
        .args(["-c", SDK_RETRY_SCRIPT, &server.base])
        .arg("echo/echo-error:authentication")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.trim(),
        "502 authentication 1 requests",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
