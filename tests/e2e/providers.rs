//! The real provider plugins (`openai`, `anthropic`, `ollama`, `gemini`)
//! against local mock upstreams that answer in each vendor's wire format:
//! every answer, streamed (tasks) or whole (the synchronous endpoint), ends
//! in the same completion or typed `error_code`; the plugin sends the
//! vendor's request shape, and the credential comes from the host's
//! manifest, never from the plugin. (`provider_streams` follows streamed
//! text as it arrives.)

use std::path::Path;

use llmhost_store::error_code::ErrorCode;
use serde_json::{Value, json};

use crate::harness::Server;
use crate::mock_vendors::{ANSWER, MockVendor, USAGE, Vendor};

/// What a task for one mock scenario must end as.
enum Outcome {
    Completed {
        finish: &'static str,
        text: &'static str,
    },
    Failed {
        code: &'static str,
        says: &'static str,
    },
}

use Outcome::{Completed, Failed};

/// The scenarios every vendor answers the same way.
fn common_cases() -> Vec<(&'static str, Outcome)> {
    vec![
        (
            "ok",
            Completed {
                finish: "stop",
                text: ANSWER,
            },
        ),
        (
            "length",
            Completed {
                finish: "length",
                text: ANSWER,
            },
        ),
        (
            // Asked to stream, the upstream answers one whole JSON body
            // (a caching or mocking proxy): the answer, as one piece.
            "ignores-stream",
            Completed {
                finish: "stop",
                text: ANSWER,
            },
        ),
        (
            "bad-request",
            Failed {
                code: "invalid_request",
                says: "400",
            },
        ),
        (
            "unauthorized",
            Failed {
                code: "authentication",
                says: "",
            },
        ),
        (
            "forbidden",
            Failed {
                code: "permission_denied",
                says: "403",
            },
        ),
        (
            "missing",
            Failed {
                code: "model_not_found",
                says: "missing",
            },
        ),
        (
            "broken",
            Failed {
                code: "upstream_error",
                says: "500",
            },
        ),
        (
            "unavailable",
            Failed {
                code: "upstream_unavailable",
                says: "503",
            },
        ),
        (
            "bad-gateway",
            Failed {
                code: "upstream_unavailable",
                says: "502",
            },
        ),
        (
            "gateway-timeout",
            Failed {
                code: "timeout",
                says: "504",
            },
        ),
        (
            "malformed",
            Failed {
                code: "upstream_error",
                says: "malformed",
            },
        ),
        (
            "half-json",
            Failed {
                code: "upstream_error",
                says: "malformed",
            },
        ),
        (
            // The connection drops mid-body (mid-stream after some text): a
            // transport failure, retried.
            "truncated",
            Failed {
                code: "upstream_unavailable",
                says: "transport error",
            },
        ),
        (
            // The body stops halfway (mid-stream after some text) and
            // never goes on: the manifest's between-bytes timeout.
            "stalls",
            Failed {
                code: "timeout",
                says: "stalled",
            },
        ),
        (
            // The body ends cleanly, but before the answer did.
            "unfinished",
            Failed {
                code: "upstream_error",
                says: "",
            },
        ),
        (
            "slow",
            Failed {
                code: "timeout",
                says: "no response within",
            },
        ),
    ]
}

/// Each vendor's own cases: tool calls, context length, content filtering,
/// its rate-limit delay and its overload status.
fn vendor_cases(vendor: Vendor) -> Vec<(&'static str, Outcome)> {
    let tool_text = if vendor == Vendor::OpenAi { "" } else { ANSWER };
    // The vendor's own error event after some text (whole: the status it
    // stands for).
    let midway = match vendor {
        Vendor::OpenAi => ("upstream_error", "had an error"),
        Vendor::Anthropic => ("upstream_unavailable", "Overloaded"),
        Vendor::Ollama => ("upstream_error", ""),
        Vendor::Gemini => ("upstream_unavailable", "overloaded"),
    };
    let mut cases = vec![
        (
            "tool",
            Completed {
                finish: "tool_calls",
                text: tool_text,
            },
        ),
        (
            "fails-midway",
            Failed {
                code: midway.0,
                says: midway.1,
            },
        ),
    ];
    let rate_limited = |says| Failed {
        code: "rate_limited",
        says,
    };
    let context = Failed {
        code: "context_length_exceeded",
        says: "",
    };
    match vendor {
        Vendor::OpenAi => cases.extend([
            ("rate-limited", rate_limited("retry after 1500 ms")),
            ("context", context),
            (
                "filtered",
                Failed {
                    code: "content_filtered",
                    says: "safety system",
                },
            ),
        ]),
        Vendor::Anthropic => cases.extend([
            ("rate-limited", rate_limited("retry after 2000 ms")),
            ("context", context),
            (
                "filtered",
                Completed {
                    finish: "content_filter",
                    text: ANSWER,
                },
            ),
            (
                "overloaded",
                Failed {
                    code: "upstream_unavailable",
                    says: "overloaded_error",
                },
            ),
        ]),
        Vendor::Ollama => cases.push(("rate-limited", rate_limited("retry after 3000 ms"))),
        Vendor::Gemini => cases.extend([
            ("rate-limited", rate_limited("retry after 22000 ms")),
            ("context", context),
            (
                "filtered",
                Failed {
                    code: "content_filtered",
                    says: "SAFETY",
                },
            ),
        ]),
    }
    cases
}

/// The header the operator's manifest makes the host add, and its value.
fn credential(vendor: Vendor, secret: &str) -> (&'static str, String) {
    match vendor {
        Vendor::OpenAi => ("authorization", format!("Bearer {secret}")),
        Vendor::Anthropic => ("x-api-key", secret.to_owned()),
        // Ollama has no credential of its own; behind a proxy it may.
        Vendor::Ollama => ("authorization", format!("Bearer {secret}")),
        Vendor::Gemini => ("x-goog-api-key", secret.to_owned()),
    }
}

/// A server whose plugins directory holds only `vendor`'s plugin, with a
/// manifest that allows the mock, points `base_url` at it and has the host
/// add the credential from an environment variable.
pub(crate) async fn serve(root: &Path, vendor: Vendor, mock: &MockVendor, secret: &str) -> Server {
    serve_with(root, vendor, mock, secret, &[]).await
}

/// `serve`, with more flags.
pub(crate) async fn serve_with(
    root: &Path,
    vendor: Vendor,
    mock: &MockVendor,
    secret: &str,
    flags: &[&str],
) -> Server {
    let plugins = root.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let name = vendor.plugin();
    let wasm = Path::new(env!("LLMHOST_BUNDLED_PLUGINS_DIR")).join(format!("{name}.wasm"));
    std::fs::copy(&wasm, plugins.join(format!("{name}.wasm")))
        .unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
    let (header, value) = credential(vendor, "${LLMHOST_TEST_VENDOR_KEY}");
    let manifest = format!(
        r#"[egress]
allow = ["{origin}"]
first_byte_timeout_ms = 2500
between_bytes_timeout_ms = 2500

[[secret]]
origin = "{origin}"
header = "{header}"
value = "{value}"

[config]
base_url = "{base_url}"
"#,
        origin = mock.origin(),
        base_url = mock.base_url(),
    );
    std::fs::write(plugins.join(format!("{name}.toml")), manifest).unwrap();
    let mut args = vec!["--plugins-dir", plugins.to_str().unwrap()];
    args.extend_from_slice(flags);
    Server::start_with_env(root, &args, &[("LLMHOST_TEST_VENDOR_KEY", secret)]).await
}

fn messages() -> Value {
    json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Say hello"}
    ])
}

pub(crate) fn task(vendor: Vendor, model: &str, max_attempts: u32) -> Value {
    json!({
        "provider": vendor.plugin(),
        "model": model,
        "messages": messages(),
        "params": {"max_tokens": 64, "temperature": 0.5, "top_p": 0.9, "stop": ["END"]},
        "max_attempts": max_attempts
    })
}

/// The same request for `/v1/chat/completions`.
pub(crate) fn chat(vendor: Vendor, model: &str, stream: bool) -> Value {
    json!({
        "model": format!("{}/{model}", vendor.plugin()),
        "messages": messages(),
        "max_tokens": 64, "temperature": 0.5, "top_p": 0.9, "stop": ["END"],
        "stream": stream, "stream_options": {"include_usage": true}
    })
}

pub(crate) async fn post_chat(server: &Server, body: &Value) -> reqwest::Response {
    let url = server.url("/v1/chat/completions");
    server.http.post(url).json(body).send().await.unwrap()
}

/// Runs every scenario for `vendor` through the REST API, where the worker
/// streams the answer, and through the synchronous endpoint, which asks
/// for it whole; checks how each ended, what the mock received, and a
/// retry after a 429.
async fn every_answer_ends_in_its_completion_or_typed_error(vendor: Vendor) {
    let mock = MockVendor::start(vendor).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("sk-{}-{}", vendor.plugin(), std::process::id());
    let server = serve(dir.path(), vendor, &mock, &secret).await;

    let mut cases = common_cases();
    cases.extend(vendor_cases(vendor));
    every_whole_answer_ends_the_same(&server, &mock, vendor, &cases, &secret).await;
    let whole_requests = mock.requests().len();
    let mut submitted = Vec::new();
    for (model, outcome) in cases {
        let id = server.submit(&task(vendor, model, 1)).await;
        submitted.push((model, outcome, id));
    }
    let flaky = server.submit(&task(vendor, "flaky", 2)).await;

    for (model, outcome, id) in &submitted {
        let done = server.wait_until_finished(id).await;
        let context = format!("{} {model}: {done}", vendor.plugin());
        assert_eq!(done["attempts"], 1, "{context}");
        match outcome {
            Completed { finish, text } => {
                assert_eq!(done["status"], "completed", "{context}");
                let result = &done["result"];
                assert_eq!(result["text"], *text, "{context}");
                assert_eq!(result["finish_reason"], *finish, "{context}");
                assert_eq!(result["usage"]["input_tokens"], USAGE.0, "{context}");
                assert_eq!(result["usage"]["output_tokens"], USAGE.1, "{context}");
                assert_eq!(result["model"], format!("{model}-2025"), "{context}");
            }
            Failed { code, says } => {
                assert_eq!(done["status"], "failed", "{context}");
                assert_eq!(done["error_code"], *code, "{context}");
                let message = done["error_message"].as_str().unwrap();
                assert!(message.contains(says), "{context}");
                assert!(!message.contains(&secret), "{context}");
            }
        }
    }

    // A 429 with max_attempts 2: the worker waits and tries again.
    let retried = server.wait_until_finished(&flaky).await;
    assert_eq!(retried["status"], "completed", "{retried}");
    assert_eq!(retried["attempts"], 2, "{retried}");
    assert_eq!(retried["result"]["text"], ANSWER, "{retried}");
    assert_eq!(mock.requests_for("flaky").len(), 2);

    // Every request went to the vendor's endpoint with the host's
    // credential, exactly once, and nothing the plugin could have set;
    // the synchronous endpoint asked for whole answers, tasks for streams.
    let requests = mock.requests();
    assert_eq!(
        requests.len(),
        whole_requests + submitted.len() + 2,
        "one request per attempt"
    );
    let (header, value) = credential(vendor, &secret);
    for (i, request) in requests.iter().enumerate() {
        assert_eq!(request.method, "POST", "{request:?}");
        assert_eq!(request.header(header), [value.as_str()], "{request:?}");
        assert_eq!(
            request.header("content-type"),
            ["application/json"],
            "{request:?}"
        );
        assert_eq!(request.stream, i >= whole_requests, "{request:?}");
    }
    let ok = mock.requests_for("ok");
    assert_eq!(ok.len(), 2);
    for request in ok {
        assert_request_shape(vendor, &request);
    }
}

/// Every scenario but the retried one through `/v1/chat/completions`
/// without `stream`: the plugin's `complete`. An answer is the same text,
/// finish reason and usage as the streamed one; a failure is its error
/// code, with the HTTP status the error table gives it.
async fn every_whole_answer_ends_the_same(
    server: &Server,
    mock: &MockVendor,
    vendor: Vendor,
    cases: &[(&str, Outcome)],
    secret: &str,
) {
    for (model, outcome) in cases {
        let response = post_chat(server, &chat(vendor, model, false)).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        let context = format!("{} {model} whole: {status} {body}", vendor.plugin());
        match outcome {
            Completed { finish, text } => {
                assert_eq!(status, 200, "{context}");
                let choice = &body["choices"][0];
                let content = &choice["message"]["content"];
                // A message that only calls tools has no content: OpenAI
                // answers `null` (an older /v1 answered "").
                let no_content = text.is_empty() && content.is_null();
                assert!(no_content || content == *text, "{context}");
                assert_eq!(choice["finish_reason"], *finish, "{context}");
                assert_eq!(body["usage"]["prompt_tokens"], USAGE.0, "{context}");
                assert_eq!(body["usage"]["completion_tokens"], USAGE.1, "{context}");
            }
            Failed { code, says } => {
                let row = ErrorCode::parse(code).expect("a code of the error table");
                assert_eq!(status, row.http_status(), "{context}");
                assert_eq!(body["error"]["code"], *code, "{context}");
                let message = body["error"]["message"].as_str().unwrap();
                assert!(message.contains(says), "{context}");
                assert!(!message.contains(secret), "{context}");
            }
        }
        assert_eq!(mock.requests_for(model).len(), 1, "{context}");
    }
}

/// The conversation and parameters of `task`, in the vendor's own shape,
/// whole or streamed as the request asked.
fn assert_request_shape(vendor: Vendor, request: &crate::mock_vendors::Recorded) {
    let (path, body, stream) = (request.path.as_str(), &request.body, request.stream);
    let header = |name: &str| request.header(name);
    let turns = |user_role: &str, assistant_role: &str| {
        json!([
            {"role": user_role, "content": "Hi"},
            {"role": assistant_role, "content": "Hello!"},
            {"role": user_role, "content": "Say hello"}
        ])
    };
    match vendor {
        Vendor::OpenAi => {
            assert_eq!(path, "/v1/chat/completions");
            let mut messages = vec![json!({"role": "system", "content": "Be brief."})];
            messages.extend(turns("user", "assistant").as_array().unwrap().clone());
            let mut expected = json!({
                "model": "ok", "messages": messages, "max_tokens": 64,
                "temperature": 0.5, "top_p": 0.9, "stop": ["END"], "stream": stream
            });
            if stream {
                expected["stream_options"] = json!({"include_usage": true});
            }
            assert_eq!(body, &expected);
            assert!(header("x-api-key").is_empty());
        }
        Vendor::Anthropic => {
            assert_eq!(path, "/v1/messages");
            assert_eq!(header("anthropic-version"), ["2023-06-01"]);
            let mut expected = json!({
                "model": "ok", "system": "Be brief.", "messages": turns("user", "assistant"),
                "max_tokens": 64, "temperature": 0.5, "top_p": 0.9, "stop_sequences": ["END"]
            });
            if stream {
                expected["stream"] = json!(true);
            }
            assert_eq!(body, &expected);
            assert!(header("authorization").is_empty());
        }
        Vendor::Ollama => {
            assert_eq!(path, "/api/chat");
            let mut messages = vec![json!({"role": "system", "content": "Be brief."})];
            messages.extend(turns("user", "assistant").as_array().unwrap().clone());
            assert_eq!(
                body,
                &json!({
                    "model": "ok", "messages": messages, "stream": stream,
                    "options": {"num_predict": 64, "temperature": 0.5, "top_p": 0.9, "stop": ["END"]}
                })
            );
        }
        Vendor::Gemini => {
            let method = if stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            assert_eq!(path, format!("/v1beta/models/ok:{method}"));
            let contents: Vec<Value> = turns("user", "model")
                .as_array()
                .unwrap()
                .iter()
                .map(|t| json!({"role": t["role"], "parts": [{"text": t["content"]}]}))
                .collect();
            assert_eq!(
                body,
                &json!({
                    "contents": contents,
                    "systemInstruction": {"parts": [{"text": "Be brief."}]},
                    "generationConfig": {"maxOutputTokens": 64, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]}
                })
            );
            assert!(header("authorization").is_empty());
        }
    }
}

#[tokio::test]
async fn openai_answers_and_failures_end_in_the_right_completion_or_typed_error() {
    every_answer_ends_in_its_completion_or_typed_error(Vendor::OpenAi).await;
}

#[tokio::test]
async fn anthropic_answers_and_failures_end_in_the_right_completion_or_typed_error() {
    every_answer_ends_in_its_completion_or_typed_error(Vendor::Anthropic).await;
}

#[tokio::test]
async fn ollama_answers_and_failures_end_in_the_right_completion_or_typed_error() {
    every_answer_ends_in_its_completion_or_typed_error(Vendor::Ollama).await;
}

#[tokio::test]
async fn gemini_answers_and_failures_end_in_the_right_completion_or_typed_error() {
    every_answer_ends_in_its_completion_or_typed_error(Vendor::Gemini).await;
}

#[tokio::test]
async fn the_bundled_providers_load_with_their_example_manifests_even_without_keys() {
    let dir = tempfile::tempdir().unwrap();
    let bundled = env!("LLMHOST_BUNDLED_PLUGINS_DIR");
    let server = Server::start(dir.path(), &["--plugins-dir", bundled]).await;
    let (status, body) = server.get_json("/api/v1/providers").await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for vendor in Vendor::ALL {
        let name = vendor.plugin();
        assert!(names.contains(&name), "{name} in {names:?}");
        assert!(
            Path::new(bundled).join(format!("{name}.toml")).exists(),
            "{name}'s example manifest is installed"
        );
    }
    // A key missing from the environment is a warning naming it, not a refusal.
    let log = server.log();
    for var in ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"] {
        if std::env::var_os(var).is_none() {
            assert!(log.contains(var), "the log names {var}:\n{log}");
        }
    }
}
