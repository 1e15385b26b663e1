//! Every row of the one error table (`llmhost_store::error_code`): its `error_code`,
//! the HTTP status of the synchronous endpoint and the retry decision, each
//! observed from outside through its real cause. Rows whose causes are
//! already driven end to end elsewhere name those tests, which must exist.

use serde_json::{Value, json};

use crate::harness::Server;
use crate::sandbox::plugins_dir;
use crate::test_plugin;
use llmhost_store::error_code::ErrorCode;

/// How a row is caused, and where it is observed.
enum Cause {
    /// `echo-error:<code>`: the synchronous endpoint here; the task API in
    /// `lifecycle::a_typed_provider_error_fails_the_task_with_its_code`.
    Echo,
    /// A provider that is not installed.
    MissingProvider,
    /// A misbehaving test plugin, through both APIs here.
    Plugin {
        provider: &'static str,
        prompt: &'static str,
    },
    /// A worker that died with the task's last attempt, through the task
    /// API here (the synchronous endpoint has no lease).
    DeadWorker,
    /// Only tasks can have it; observed by these tests.
    Elsewhere(&'static [&'static str]),
    /// A host bug: no cause to drive; `error_code`'s unit tests check it.
    Bug,
}

/// Exhaustive, so that a new row cannot be added without saying how it is
/// tested.
fn cause(code: ErrorCode) -> Cause {
    use ErrorCode::*;
    match code {
        InvalidRequest
        | Authentication
        | PermissionDenied
        | ModelNotFound
        | RateLimited
        | ContextLengthExceeded
        | ContentFiltered
        | Timeout
        | UpstreamUnavailable
        | UpstreamError
        | Unsupported => Cause::Echo,
        ProviderNotFound => Cause::MissingProvider,
        MemoryLimit => Cause::Plugin {
            provider: "memory-bomb",
            prompt: "x",
        },
        PluginTrap => Cause::Plugin {
            provider: "panic",
            prompt: "x",
        },
        OutputTooLarge => Cause::Plugin {
            provider: "huge-output",
            prompt: "x",
        },
        ResourceLimit => Cause::Plugin {
            provider: "hostile",
            prompt: "log-flood:5000",
        },
        EgressDenied => Cause::Plugin {
            provider: "egress",
            prompt: "http://example.com/",
        },
        LeaseExpired => Cause::DeadWorker,
        // Needs calls held open at once against a provider's limit.
        CapacityExhausted => Cause::Elsewhere(&[
            "sandbox/capacity::a_provider_past_its_concurrent_calls_fails_retryably_while_others_complete",
        ]),
        // The synchronous endpoint's deadline is fixed and nothing can
        // cancel it: tasks only.
        DeadlineExceeded => Cause::Elsewhere(&[
            "control::a_task_past_its_timeout_fails_with_deadline_exceeded",
            "sandbox::misbehaving_plugins_fail_precisely_while_the_server_and_other_tasks_carry_on",
        ]),
        Cancelled => Cause::Elsewhere(&[
            "control::cancelling_a_running_task_stops_its_worker_which_records_cancelled",
        ]),
        Internal => Cause::Bug,
    }
}

/// The synchronous request that causes `code`, if one does.
fn chat_request(code: ErrorCode) -> Option<Value> {
    let (model, prompt) = match cause(code) {
        Cause::Echo => (format!("echo/echo-error:{code}"), "x"),
        Cause::MissingProvider => ("not-installed/m".to_owned(), "x"),
        Cause::Plugin { provider, prompt } => (format!("{provider}/m"), prompt),
        Cause::DeadWorker | Cause::Elsewhere(_) | Cause::Bug => return None,
    };
    Some(json!({"model": model, "messages": [{"role": "user", "content": prompt}]}))
}

/// OpenAI's error `type` for a status, as its SDKs expect it.
fn openai_type(status: u16) -> &'static str {
    match status {
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

#[tokio::test]
async fn every_row_of_the_error_table_has_its_status_and_retry_decision_from_outside() {
    let dir = tempfile::tempdir().unwrap();
    let installed = [
        ("echo", None),
        (test_plugin::MEMORY_BOMB, None),
        (test_plugin::PANIC, None),
        (test_plugin::HUGE_OUTPUT, None),
        (test_plugin::EGRESS, None),
        (test_plugin::HOSTILE, None),
    ];
    let plugins = plugins_dir(dir.path(), &installed);
    let args = ["--plugins-dir", plugins.to_str().unwrap()];
    let server = Server::start(dir.path(), &args).await;

    // The synchronous endpoint, whole and streamed (a failure before any
    // text is an ordinary error response): the table's status, OpenAI's
    // error shape, the row's code.
    for code in ErrorCode::ALL {
        let Some(mut body) = chat_request(code) else {
            continue;
        };
        let status = code.http_status();
        for stream in [false, true] {
            body["stream"] = json!(stream);
            let url = server.url("/v1/chat/completions");
            let response = server.http.post(url).json(&body).send().await.unwrap();
            let got = response.status().as_u16();
            let answer: Value = response.json().await.unwrap();
            let context = format!("{code} (stream: {stream}): {got} {answer}");
            assert_eq!(got, status, "{context}");
            assert_eq!(answer["error"]["code"], code.as_str(), "{context}");
            assert_eq!(answer["error"]["type"], openai_type(status), "{context}");
            assert!(
                answer["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
    }

    // The task API for the causes not driven elsewhere: the row's code, and
    // a second attempt exactly when the row says it is retried.
    let mut submitted = Vec::new();
    for code in ErrorCode::ALL {
        if let Cause::Plugin { provider, prompt } = cause(code) {
            let body =
                json!({"provider": provider, "model": "m", "prompt": prompt, "max_attempts": 2});
            submitted.push((code, server.submit(&body).await));
        }
    }
    for (code, id) in submitted {
        let task = server.wait_until_finished(&id).await;
        assert_eq!(task["status"], "failed", "{code}: {task}");
        assert_eq!(task["error_code"], code.as_str(), "{code}: {task}");
        let attempts = if code.retryable() { 2 } else { 1 };
        assert_eq!(task["attempts"], attempts, "{code}: {task}");
    }
    a_dead_workers_last_attempt_fails_with_lease_expired(server, dir.path()).await;

    // The rows observed elsewhere are observed there.
    for code in ErrorCode::ALL {
        if let Cause::Elsewhere(tests) = cause(code) {
            for test in tests {
                let (file, name) = test.split_once("::").unwrap();
                let path = format!("{}/../tests/e2e/{file}.rs", env!("CARGO_MANIFEST_DIR"));
                let source = std::fs::read_to_string(&path).unwrap();
                assert!(
                    source.contains(&format!("fn {name}(")),
                    "{code}: {test} exists"
                );
                assert!(source.contains(code.as_str()), "{code}: {test} checks it");
            }
        }
    }
}

/// A server killed during a task's last attempt: the next start on the same
/// database finds the task's lease dead and fails it, not retried.
async fn a_dead_workers_last_attempt_fails_with_lease_expired(
    server: Server,
    data: &std::path::Path,
) {
    let code = ErrorCode::LeaseExpired;
    assert!(matches!(cause(code), Cause::DeadWorker));
    let body =
        json!({"provider": "echo", "model": "echo-slow:60000", "prompt": "x", "max_attempts": 1});
    let id = server.submit(&body).await;
    server
        .wait_for(&id, "running", |t| t["status"] == "running")
        .await;
    server.kill().await;
    let server = Server::start(data, &[]).await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["error_code"], code.as_str(), "{task}");
    assert_eq!(task["attempts"], 1, "{task}");
    assert!(!code.retryable());
}
