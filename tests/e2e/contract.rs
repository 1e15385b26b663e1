//! Contract versions: plugins built against each older release of the
//! contract (0.1.0, 0.1.1) load, answer whole and streamed, and pass
//! conformance; one built for a version this host does not speak is
//! refused at load with a message naming both versions.

use serde_json::{Value, json};

use std::path::Path;

use crate::harness::{Server, run_llmhost};
use crate::sandbox::plugins_dir;
use crate::test_plugin;

fn provider<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .find(|p| p["name"] == name)
}

#[tokio::test]
async fn a_plugin_built_against_contract_0_1_0_loads_and_answers_a_task() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(
        dir.path(),
        &[(test_plugin::CONTRACT_V010, None), ("echo", None)],
    );
    let server = Server::start(dir.path(), &["--plugins-dir", plugins.to_str().unwrap()]).await;

    let (status, list) = server.get_json("/api/v1/providers").await;
    assert_eq!(status, 200);
    let old = provider(&list, "contract-v010").unwrap_or_else(|| panic!("{list}"));
    assert_eq!(old["contract_version"], "0.1.0", "{old}");
    let echo = provider(&list, "echo").unwrap();
    assert_eq!(
        echo["contract_version"],
        llmhost_runtime::CONTRACT_VERSION,
        "{echo}"
    );

    let body = json!({"provider": "contract-v010", "model": "v010", "prompt": "hi"});
    let id = server.submit(&body).await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["result"]["text"], "0.1.0 says: hi");
}

#[tokio::test]
async fn a_plugin_built_for_an_incompatible_contract_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(
        dir.path(),
        &[(test_plugin::CONTRACT_FUTURE, None), ("echo", None)],
    );
    let server = Server::start(
        dir.path(),
        &[
            "--plugins-dir",
            plugins.to_str().unwrap(),
            "--plugin-reload-ms",
            "0",
        ],
    )
    .await;
    let expected = format!(
        "built against contract 0.3.0; this host speaks 0.1.0, 0.1.1, {}",
        llmhost_runtime::CONTRACT_VERSION
    );

    let log = server.log();
    assert!(
        log.contains("contract-future") && log.contains(&expected),
        "the refusal is logged: {log}"
    );
    let (_, list) = server.get_json("/api/v1/providers").await;
    assert!(provider(&list, "contract-future").is_none(), "{list}");
    assert!(provider(&list, "echo").is_some(), "{list}");

    let (status, body) = server.reload().await;
    assert_eq!(status, 422);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("contract-future"), "{body}");
    assert!(message.contains(&expected), "{body}");

    let body = json!({"provider": "contract-future", "model": "m", "prompt": "hi"});
    let id = server.submit(&body).await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["error_code"], "provider_not_found", "{task}");
}

/// 0.1.1 carries 32-bit floats: the host's 64-bit `0.9` arrives as the
/// nearest `f32`, which the plugin prints back as `0.9`.
#[tokio::test]
async fn a_plugin_built_against_contract_0_1_1_answers_tasks_and_streams() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &[(test_plugin::CONTRACT_V011, None)]);
    let server = Server::start(dir.path(), &["--plugins-dir", plugins.to_str().unwrap()]).await;

    let (_, list) = server.get_json("/api/v1/providers").await;
    let old = provider(&list, "contract-v011").unwrap_or_else(|| panic!("{list}"));
    assert_eq!(old["contract_version"], "0.1.1", "{old}");

    let body = json!({"provider": "contract-v011", "model": "v011", "prompt": "hé",
                      "params": {"temperature": 0.9}});
    let id = server.submit(&body).await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(
        task["result"]["text"], "0.1.1 says: hé (temperature 0.9)",
        "{task}"
    );

    let body = json!({"model": "contract-v011/v011", "stream": true,
                      "messages": [{"role": "user", "content": "streamed"}]});
    let response = server
        .http
        .post(server.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    let pieces: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| {
            let chunk: Value = serde_json::from_str(d).unwrap();
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .filter(|piece| !piece.is_empty())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(pieces.len(), 2, "the plugin's two pieces: {text}");
    assert_eq!(pieces.concat(), "0.1.1 says: streamed (temperature none)");
}

#[tokio::test]
async fn plugins_built_against_0_1_0_and_0_1_1_pass_conformance() {
    for wasm in [test_plugin::CONTRACT_V010, test_plugin::CONTRACT_V011] {
        let out = run_llmhost(&["conformance", wasm, "--json"], &[]).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{wasm}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_str(&stdout).expect("a JSON report");
        assert_eq!(report["failed"], 0, "{report}");
        let name = Path::new(wasm).file_stem().unwrap().to_str().unwrap();
        let version = if name == "contract-v010" {
            "0.1.0"
        } else {
            "0.1.1"
        };
        assert_eq!(report["contract_version"], version, "{report}");
    }
}

/// A 0.1 plugin declares none of 0.2's capabilities, so 0.2's features sent
/// to it are refused before any call, naming the field: `/v1` answers 400
/// `unsupported_parameter`, the task API `invalid_request` at submit, and
/// no task is stored.
#[tokio::test]
async fn new_features_sent_to_0_1_plugins_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(
        dir.path(),
        &[
            (test_plugin::CONTRACT_V010, None),
            (test_plugin::CONTRACT_V011, None),
        ],
    );
    let server = Server::start(dir.path(), &["--plugins-dir", plugins.to_str().unwrap()]).await;
    let user = json!([{"role": "user", "content": "hi"}]);
    let image = json!([{"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]);
    let tool = json!({"type": "function", "function": {"name": "get_weather",
                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}});
    let schema = json!({"type": "json_schema", "json_schema": {"name": "reply",
                        "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}});
    for (provider, model) in [("contract-v010", "v010"), ("contract-v011", "v011")] {
        let cases = [
            (json!({"messages": user, "tools": [tool]}), "tools", "tools"),
            (
                json!({"messages": user, "response_format": schema}),
                "response_format",
                "params.response_format",
            ),
            (
                json!({"messages": image}),
                "messages[0].content[1]",
                "messages[0].content[1]",
            ),
        ];
        for (fields, v1_param, task_param) in cases {
            let mut body = fields.clone();
            body["model"] = json!(format!("{provider}/{model}"));
            let response = server
                .http
                .post(server.url("/v1/chat/completions"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let answer: Value = response.json().await.unwrap();
            assert_eq!(status, 400, "{body}: {answer}");
            assert_eq!(answer["error"]["param"], v1_param, "{answer}");
            assert_eq!(answer["error"]["code"], "unsupported_parameter", "{answer}");
            assert_eq!(answer["error"]["type"], "invalid_request_error", "{answer}");

            let mut task = json!({"provider": provider, "model": model,
                                  "messages": fields["messages"]});
            if let Some(tools) = fields.get("tools") {
                task["tools"] = json!([tools[0]["function"]]);
            }
            if let Some(format) = fields.get("response_format") {
                task["params"] = json!({"response_format": format});
            }
            let (status, answer) = server.post_task(&task).await;
            assert!((400..500).contains(&status), "{task}: {status} {answer}");
            assert_eq!(answer["error"]["code"], "invalid_request", "{answer}");
            assert_eq!(answer["error"]["param"], task_param, "{answer}");
        }
    }
    let (status, list) = server.get_json("/api/v1/tasks").await;
    assert_eq!(status, 200);
    assert_eq!(list["tasks"], json!([]), "nothing stored: {list}");
}
