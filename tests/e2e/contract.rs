//! Contract versions: a plugin built against an older release of the
//! contract loads and answers; one built for a version this host does not
//! speak is refused at load with a message naming both versions.

use serde_json::{Value, json};

use crate::harness::Server;
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
