//! The texts a client, an operator and a plugin author read when a plugin
//! is wrong: a panic answered with the plugin's own message (the backtrace
//! in the log), a core module (a wasm32-wasip1 build) told to build for
//! wasm32-wasip2 by the server, `plugin inspect` and `conformance`, and a
//! component without a manifest flagged at load. The headers a client's
//! retry logic reads are checked in `availability` and, with the official
//! SDK, in `openai_compat`.

use serde_json::{Value, json};

use crate::harness::{Server, run_llmhost};
use crate::sandbox::plugins_dir;
use crate::test_plugin;

/// What the panic test plugin panics with (`plugins/test/panic`).
const PANIC_MESSAGE: &str = "deliberate panic for model m";

/// Checks a trap's text: the panic's message and where it was raised, and
/// nothing of wasmtime's backtrace.
fn assert_panic_text(message: &str) {
    let expected = format!("the provider panicked: {PANIC_MESSAGE} (at ");
    assert!(message.starts_with(&expected), "{message}");
    assert!(message.ends_with(')'), "{message}");
    assert!(message.contains("/panic/src/lib.rs:"), "where: {message}");
    for backtrace in ["wasm backtrace", "<wasm function", "<unknown>"] {
        assert!(!message.contains(backtrace), "{message}");
    }
}

#[tokio::test]
async fn a_panic_is_answered_with_its_message_and_its_backtrace_goes_to_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &[(test_plugin::PANIC, None)]);
    let server = Server::start(dir.path(), &["--plugins-dir", plugins.to_str().unwrap()]).await;

    let body = json!({"provider": "panic", "model": "m", "prompt": "x", "max_attempts": 1});
    let id = server.submit(&body).await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["error_code"], "plugin_trap", "{task}");
    assert_panic_text(task["error_message"].as_str().unwrap());

    for stream in [false, true] {
        let body = json!({"model": "panic/m", "stream": stream,
                          "messages": [{"role": "user", "content": "x"}]});
        let response = server
            .http
            .post(server.url("/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "plugin_trap", "{answer}");
        assert_panic_text(answer["error"]["message"].as_str().unwrap());
    }

    // The test server logs at debug level: the backtrace is there, on one
    // line per trap.
    let log = server.log();
    let traces: Vec<&str> = log.lines().filter(|l| l.contains("trapped: ")).collect();
    assert!(!traces.is_empty(), "{log}");
    assert!(
        traces.iter().all(|l| l.contains("wasm backtrace")),
        "{traces:?}"
    );
}

/// An empty core module: the header a wasm32-wasip1 (or
/// wasm32-unknown-unknown) build starts with.
const CORE_MODULE: &[u8] = b"\0asm\x01\x00\x00\x00";

const BUILD_FOR: &str = "build for wasm32-wasip2 (`cargo build --target wasm32-wasip2`)";

#[tokio::test]
async fn a_core_module_is_refused_everywhere_with_build_for_wasm32_wasip2() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &[("echo", Some(String::new()))]);
    let core = plugins.join("wasip1.wasm");
    std::fs::write(&core, CORE_MODULE).unwrap();
    let server = Server::start(dir.path(), &["--plugins-dir", plugins.to_str().unwrap()]).await;

    let (status, list) = server.get_json("/api/v1/providers").await;
    assert_eq!(status, 200);
    let expected = format!(
        "a core WebAssembly module, not a component (a wasm32-wasip1 or \
         wasm32-unknown-unknown build is one): {BUILD_FOR}"
    );
    let refused = &list["refused"];
    assert_eq!(refused.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(refused[0]["name"], "wasip1");
    let error = refused[0]["error"].as_str().unwrap();
    assert!(error.ends_with(&expected), "{error}");
    assert!(!error.contains("component parser"), "{error}");
    assert!(
        server.log().contains(&expected),
        "the operator reads it too"
    );

    let out = run_llmhost(&["plugin", "inspect", core.to_str().unwrap()], &[]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!("loadable:   no: {expected}")),
        "{text}"
    );

    let out = run_llmhost(&["conformance", core.to_str().unwrap()], &[]).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains(&expected), "{text}");
}

#[tokio::test]
async fn a_component_without_a_manifest_is_flagged_at_load_in_the_log_and_the_provider_list() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(
        dir.path(),
        &[("echo", Some(String::new())), (test_plugin::EGRESS, None)],
    );
    let server = Server::start(dir.path(), &["--plugins-dir", plugins.to_str().unwrap()]).await;
    let expected = "no manifest: egress.toml is not beside egress.wasm, so this provider has no \
                    config and may reach no host (its outbound requests fail with egress_denied)";

    let (status, list) = server.get_json("/api/v1/providers").await;
    assert_eq!(status, 200);
    let warnings = |name: &str| {
        list["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {list}"))["warnings"]
            .clone()
    };
    assert_eq!(warnings("egress"), json!([expected]));
    assert_eq!(
        warnings("echo"),
        json!([]),
        "a manifest, even empty, is one"
    );
    let log = server.log();
    let flagged: Vec<&str> = log.lines().filter(|l| l.contains("no manifest:")).collect();
    assert_eq!(flagged.len(), 1, "{log}");
    assert!(
        flagged[0].contains("WARN") && flagged[0].contains(expected),
        "{flagged:?}"
    );

    // The bundled echo carries its (empty) manifest: not flagged.
    let data = dir.path().join("bundled");
    std::fs::create_dir_all(&data).unwrap();
    let bundled = Server::start(&data, &[]).await;
    let (_, list) = bundled.get_json("/api/v1/providers").await;
    let echo = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "echo")
        .cloned()
        .unwrap();
    assert_eq!(echo["warnings"], json!([]), "{echo}");
}
