//! `llmhost conformance`, the real binary: every bundled provider passes
//! with its own cases; a deliberately broken plugin fails exactly the cases
//! of its three bugs, and the report says why.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::run_llmhost;
use crate::test_plugin;

/// The repository's root (for the plugins' case directories).
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn conformance(wasm: &Path, cases: &Path, json: bool) -> (bool, String, String) {
    let mut args = vec![
        "conformance",
        wasm.to_str().unwrap(),
        "--cases",
        cases.to_str().unwrap(),
    ];
    if json {
        args.push("--json");
    }
    let out = run_llmhost(&args, &[]).await;
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_bundled_provider_passes_conformance() {
    let bundled = Path::new(env!("LLMHOST_BUNDLED_PLUGINS_DIR"));
    for name in env!("LLMHOST_BUNDLED_PLUGINS").split(',') {
        let wasm = bundled.join(format!("{name}.wasm"));
        let cases = repo().join(format!("plugins/{name}/conformance"));
        let (ok, stdout, stderr) = conformance(&wasm, &cases, true).await;
        assert!(ok, "{name} fails conformance:\n{stdout}\n{stderr}");
        let report: Value = serde_json::from_str(&stdout).expect("a JSON report");
        assert_eq!(report["failed"], 0, "{name}: {report}");
        let statuses = statuses(&report);
        let status = |case: &str| {
            statuses
                .iter()
                .find(|(n, _)| n == case)
                .map(|(_, s)| s.clone())
                .unwrap_or_else(|| panic!("{name}: no case {case}"))
        };
        // The HTTP failure classes ran for every provider that has egress.
        let http = if name == "echo" {
            "not_applicable"
        } else {
            "pass"
        };
        for case in [
            "http-429-rate-limited",
            "deadline-respected",
            "malformed-json",
        ] {
            assert_eq!(status(case), http, "{name}: {case}");
        }
        assert_eq!(status("basic-completion"), "pass", "{name}");
        assert_eq!(status("streaming-matches-complete"), "pass", "{name}");
        // Contract 0.2's cases ran (each provider declares these) and
        // passed, against its vendor's answers.
        for case in [
            "tool-call",
            "tool-call-streamed",
            "tool-result-round-trip",
            "structured-output",
            "image-input",
            "refuses-undeclared-json-schema",
        ] {
            let want = match (name, case) {
                // Every model of anthropic's declares JSON schemas.
                ("anthropic", "refuses-undeclared-json-schema") => "not_applicable",
                _ => "pass",
            };
            assert_eq!(status(case), want, "{name}: {case}");
        }
        let embeds = name != "anthropic";
        assert_eq!(
            status("embeddings"),
            if embeds { "pass" } else { "not_applicable" },
            "{name}"
        );
        // Its own cases ran too.
        assert!(
            statuses.iter().any(|(n, _)| n.starts_with(name)),
            "{name}: {statuses:?}"
        );
        assert!(stderr.contains("ok"), "progress goes to stderr: {stderr}");
    }
}

#[tokio::test]
async fn a_broken_plugin_fails_precisely_its_bugs_and_the_report_says_why() {
    let wasm = Path::new(test_plugin::BROKEN_PROVIDER);
    let cases = repo().join("plugins/test/broken-provider/conformance");

    let (ok, stdout, _) = conformance(wasm, &cases, true).await;
    assert!(!ok, "a failing suite exits non-zero");
    let report: Value = serde_json::from_str(&stdout).expect("a JSON report");
    let mut failed: Vec<String> = statuses(&report)
        .into_iter()
        .filter(|(_, s)| s == "fail")
        .map(|(n, _)| n)
        .collect();
    failed.sort();
    assert_eq!(
        failed,
        [
            "deadline-respected",
            "http-429-rate-limited",
            "non-ascii-input"
        ],
        "{report}"
    );

    let (ok, text, _) = conformance(wasm, &cases, false).await;
    assert!(!ok);
    for says in [
        "FAIL",
        "expected: the error rate_limited (retry after 2000 ms)",
        "got:      the error upstream_error: broken: HTTP 429",
        "got:      a host failure, deadline_exceeded",
        "plugin_trap",
        "never slice them at byte offsets",
        "FAILED: 20 passed, 3 failed, 6 not applicable",
    ] {
        assert!(text.contains(says), "the report says {says:?}:\n{text}");
    }
}
