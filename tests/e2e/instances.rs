//! Provider instances (`[providers.<name>]` in the configuration file): two
//! instances of the `openai` component, each in front of its own mock
//! upstream with its own secret, reach only their own upstream through the
//! task API and `/v1`; an unknown instance is `provider_not_found` with no
//! upstream request; an instance naming a component that is not installed
//! stops `config check` and `serve`, naming both.

use std::path::Path;

use serde_json::{Value, json};

use crate::harness::{Server, run_llmhost};
use crate::mock_vendors::{ANSWER, MockVendor, Vendor};

/// `[providers.<name>]` running `openai` in front of `mock`, its key read
/// from `${var}`.
fn instance(name: &str, mock: &MockVendor, var: &str) -> String {
    format!(
        r#"[providers.{name}]
plugin = "openai"
config = {{ base_url = "{base_url}" }}
egress.allow = ["{origin}"]
secrets = [{{ origin = "{origin}", header = "authorization", value = "Bearer ${{{var}}}" }}]
"#,
        base_url = mock.base_url(),
        origin = mock.origin(),
    )
}

/// A plugins directory holding the bundled `openai.wasm` (no manifest: its
/// default instance may reach nothing).
pub(crate) fn plugins_dir(root: &Path) -> String {
    let plugins = root.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let wasm = Path::new(env!("LLMHOST_BUNDLED_PLUGINS_DIR")).join("openai.wasm");
    std::fs::copy(&wasm, plugins.join("openai.wasm")).unwrap();
    plugins.to_str().unwrap().to_owned()
}

fn write_config(root: &Path, text: &str) -> String {
    let path = root.join("llmhost.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn authorizations(mock: &MockVendor) -> Vec<String> {
    mock.requests()
        .iter()
        .flat_map(|r| r.header("authorization").into_iter().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn two_instances_of_one_component_each_reach_only_their_own_upstream_with_their_own_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (alpha, beta) = (
        MockVendor::start(Vendor::OpenAi).await,
        MockVendor::start(Vendor::OpenAi).await,
    );
    let config = write_config(
        dir.path(),
        &format!(
            "{}\n{}",
            instance("alpha", &alpha, "ALPHA_KEY"),
            instance("beta", &beta, "BETA_KEY")
        ),
    );
    let plugins = plugins_dir(dir.path());
    let server = Server::start_with_env(
        dir.path(),
        &["--config", &config, "--plugins-dir", &plugins],
        &[("ALPHA_KEY", "alpha-s3cret"), ("BETA_KEY", "beta-s3cret")],
    )
    .await;

    // A task names the instance as it names a provider.
    let id = server
        .submit(&json!({"provider": "alpha", "model": "ok", "prompt": "hi"}))
        .await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["result"]["text"], ANSWER);
    assert_eq!(authorizations(&alpha), ["Bearer alpha-s3cret"]);
    assert!(beta.requests().is_empty(), "beta was not asked");

    // `/v1` names it as `<instance>/<model>`.
    let answer: Value = server
        .http
        .post(server.url("/v1/chat/completions"))
        .json(&json!({"model": "beta/ok", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"], ANSWER,
        "{answer}"
    );
    assert_eq!(authorizations(&beta), ["Bearer beta-s3cret"]);
    assert_eq!(alpha.requests().len(), 1, "alpha was not asked again");

    // The listing shows both instances and the component's default one.
    let (status, listed) = server.get_json("/api/v1/providers").await;
    assert_eq!(status, 200);
    let providers = listed["providers"].as_array().unwrap();
    let names: Vec<&str> = providers
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta", "openai"]);
    let default = &providers[2];
    assert!(
        default["contract_version"]
            .as_str()
            .unwrap()
            .starts_with("0.")
    );
    assert!(default["capabilities"]["features"].is_array(), "{default}");
    for provider in providers {
        assert_eq!(provider["component"], "openai", "{provider}");
        for same in ["version", "contract_version", "capabilities", "models"] {
            assert_eq!(provider[same], default[same], "{same}: {provider}");
        }
    }

    // An unknown instance fails at once, and nothing is sent anywhere.
    let id = server
        .submit(&json!({"provider": "gamma", "model": "ok", "prompt": "hi"}))
        .await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["error_code"], "provider_not_found");
    let message = task["error_message"].as_str().unwrap();
    assert!(
        message.contains("gamma") && message.contains("alpha"),
        "{message}"
    );
    let response = server
        .http
        .post(server.url("/v1/chat/completions"))
        .json(&json!({"model": "gamma/ok", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "provider_not_found", "{error}");
    assert_eq!(alpha.requests().len() + beta.requests().len(), 2);

    let log = server.log();
    assert!(
        !log.contains("alpha-s3cret") && !log.contains("beta-s3cret"),
        "no secret in the log"
    );
}

#[tokio::test]
async fn an_instance_of_an_unknown_component_stops_config_check_and_serve_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path());
    let config = write_config(
        dir.path(),
        "[providers.groq]\nplugin = \"opnai\"\nconfig = { base_url = \"https://api.groq.com/openai/v1\" }\n",
    );
    let data = dir.path().to_str().unwrap();
    for args in [
        vec!["config", "check", &config, "--plugins-dir", &plugins],
        vec![
            "serve",
            "--config",
            &config,
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
            stderr.contains("providers.groq: plugin \"opnai\" is not in")
                && stderr.contains("there: openai"),
            "{args:?}: {stderr}"
        );
    }
    // A bound out of range is refused as in a manifest file, named.
    let config = write_config(
        dir.path(),
        "[providers.tiny]\nplugin = \"openai\"\nlimits = { memory_bytes = 1 }\n",
    );
    let out = run_llmhost(
        &["config", "check", &config, "--plugins-dir", &plugins],
        &[],
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("providers.tiny: limits.memory_bytes = 1 is out of range"),
        "{stderr}"
    );
    // A name that could not be a task's `provider` is refused too.
    let config = write_config(dir.path(), "[providers.\"a/b\"]\nplugin = \"openai\"\n");
    let out = run_llmhost(
        &["config", "check", &config, "--plugins-dir", &plugins],
        &[],
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("providers: \"a/b\""), "{stderr}");
}

#[tokio::test]
async fn config_check_prints_the_instances_with_their_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path());
    let mock = MockVendor::start(Vendor::OpenAi).await;
    let config = write_config(dir.path(), &instance("alpha", &mock, "ALPHA_KEY"));
    let out = run_llmhost(
        &["config", "check", &config, "--plugins-dir", &plugins],
        &[],
    )
    .await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("[providers.alpha]"), "{stdout}");
    assert!(stdout.contains("plugin = \"openai\""), "{stdout}");
    assert!(stdout.contains("\"****\""), "{stdout}");
    assert!(!stdout.contains("ALPHA_KEY"), "{stdout}");
}
