//! `llmhost plugin inspect` and `llmhost plugin new`, the real binary: what
//! a component is built against and whether it loads; a scaffolded provider
//! that builds on its own and passes conformance untouched.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::conformance::repo;
use crate::harness::run_llmhost;
use crate::test_plugin;

#[tokio::test]
async fn inspect_shows_what_echo_is_built_against_and_that_it_loads() {
    let wasm = Path::new(env!("LLMHOST_BUNDLED_PLUGINS_DIR")).join("echo.wasm");
    let out = run_llmhost(&["plugin", "inspect", wasm.to_str().unwrap()], &[]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let contract = llmhost_runtime::CONTRACT_VERSION;
    for says in [
        format!("contract:   {contract} (this host speaks 0.1.0, 0.1.1, {contract})"),
        "loadable:   yes".into(),
        "provider:   echo ".into(),
        "  echo: answers with the last user message".into(),
        format!("  llmhost:provider/provider@{contract}"),
        format!("  llmhost:provider/host@{contract}"),
    ] {
        assert!(text.contains(&says), "{says:?} in:\n{text}");
    }

    let out = run_llmhost(
        &["plugin", "inspect", wasm.to_str().unwrap(), "--json"],
        &[],
    )
    .await;
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let bytes = std::fs::read(&wasm).unwrap();
    assert_eq!(json["size_bytes"], bytes.len());
    assert_eq!(json["sha256"], llmhost_runtime::sha256_hex(&bytes));
    assert_eq!(json["loadable"], true);
    assert_eq!(json["metadata"]["name"], "echo");
    assert_eq!(json["metadata"]["models"][0]["id"], "echo");
    assert_eq!(json["contract_version"], llmhost_runtime::CONTRACT_VERSION);
}

#[tokio::test]
async fn inspect_says_why_a_plugin_for_another_contract_cannot_load() {
    let wasm = Path::new(test_plugin::CONTRACT_FUTURE);
    let out = run_llmhost(&["plugin", "inspect", wasm.to_str().unwrap()], &[]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "an unloadable plugin exits non-zero");
    let expected = format!(
        "loadable:   no: refused: built against contract 0.3.0; this host speaks 0.1.0, 0.1.1, {}",
        llmhost_runtime::CONTRACT_VERSION
    );
    assert!(text.contains(&expected), "{text}");
    assert!(text.contains("contract:   0.3.0"), "{text}");
    assert!(text.contains("llmhost:provider/provider@0.3.0"), "{text}");
}

/// Inspect checks the manifest beside the plugin as the server does, even
/// though it reads no secret: a secret for an origin the plugin may not
/// reach makes the server refuse the plugin, so inspect says so.
#[tokio::test]
async fn inspect_refuses_a_manifest_the_server_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("echo.wasm");
    let bundled = Path::new(env!("LLMHOST_BUNDLED_PLUGINS_DIR"));
    std::fs::copy(bundled.join("echo.wasm"), &wasm).unwrap();
    std::fs::write(
        dir.path().join("echo.toml"),
        "[[secret]]\norigin = \"https://elsewhere.example\"\n\
         header = \"x-api-key\"\nvalue = \"${NOT_READ}\"\n",
    )
    .unwrap();
    let out = run_llmhost(&["plugin", "inspect", wasm.to_str().unwrap()], &[]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("loadable:   no: secret for https://elsewhere.example: the origin is not in egress.allow"),
        "{text}"
    );
}

#[tokio::test]
async fn a_scaffolded_provider_builds_on_its_own_and_passes_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let krate = dir.path().join("acme-llm");
    let out = run_llmhost(
        &[
            "plugin",
            "new",
            "acme-llm",
            "--dir",
            krate.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "wit/provider.wit",
        "sdk/Cargo.toml",
        "sdk/src/lib.rs",
        "acme-llm.toml",
        "conformance/acme-llm.toml",
        "README.md",
        "WRITING-PROVIDERS.md",
    ] {
        assert!(krate.join(file).exists(), "{file}");
    }

    // A target directory of its own under ours, kept between runs so that
    // wit-bindgen compiles once.
    let target = repo().join("target/scaffold-test");
    let mut build = tokio::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
    build
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", &target)
        .kill_on_drop(true);
    for key in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        build.env_remove(key);
    }
    let built = tokio::time::timeout(Duration::from_secs(900), build.output())
        .await
        .expect("the scaffold builds in time")
        .expect("cargo runs");
    assert!(
        built.status.success(),
        "cargo build: {}",
        String::from_utf8_lossy(&built.stderr)
    );

    let wasm = target.join("wasm32-wasip2/release/acme_llm.wasm");
    let manifest = krate.join("acme-llm.toml");
    let cases = krate.join("conformance");
    let out = run_llmhost(
        &[
            "conformance",
            wasm.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
            "--cases",
            cases.to_str().unwrap(),
            "--json",
        ],
        &[],
    )
    .await;
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert!(out.status.success(), "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    let passed: Vec<&str> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "pass")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // The contract 0.2 cases for what the scaffold declares (tools, JSON
    // schema, images, embeddings on acme-llm-embed), the refusals of what
    // acme-llm-embed does not declare, and the scaffold's own cases of its
    // streamed pieces and its vectors ran and passed.
    for case in [
        "metadata",
        "basic-completion",
        "streaming-matches-complete",
        "acme-llm-answers-what-it-heard",
        "acme-llm-unknown-model",
        "acme-llm-calls-the-offered-tool",
        "acme-llm-streams-text-a-word-at-a-time",
        "acme-llm-streams-the-call-in-fragments",
        "acme-llm-embeds-in-the-dimensions-asked",
        "acme-llm-refuses-dimensions-it-cannot-make",
        "tool-call",
        "tool-call-streamed",
        "tool-result-round-trip",
        "image-input",
        "structured-output",
        "embeddings",
        "refuses-undeclared-tools",
        "refuses-undeclared-json-schema",
        "refuses-undeclared-images",
    ] {
        assert!(passed.contains(&case), "{case}: {report}");
    }
}
