//! Findings 4 (metadata), 5, 6 and 10 (swallowed refusals): what a hostile
//! plugin returns or writes is bounded before the host keeps, logs or shows
//! it. A 50 MB model name or error message fails its call with
//! `output_too_large` naming the field; 30 MB metadata strings and metadata
//! that never returns refuse the plugin at load, listed with the reason; a
//! log flood stops at the call's limit with `resource_limit`; forged lines
//! (newline, CR, NUL, escape) stay on their own line in both log formats; a
//! refused request fails the call whatever the plugin returns, and is
//! logged once per call however often it is retried; clocks are readable,
//! as documented. Meanwhile echo keeps
//! completing, `/healthz` answers and RSS stays within budget.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{peak_rss_kib, plugins_dir, reset_peak_rss};
use crate::harness::{Server, echo};
use crate::test_plugin;

/// The hostile plugin may hold its 50 MB strings; the budget of the test
/// is the server's baseline, plus this, plus 64 MiB.
const HOSTILE_MEMORY: u64 = 256 << 20;

/// echo, `hostile`, and two copies whose metadata attacks at load.
fn installed(root: &Path) -> PathBuf {
    let limits = format!("[limits]\nmemory_bytes = {HOSTILE_MEMORY}\n");
    let dir = plugins_dir(
        root,
        &[("echo", None), (test_plugin::HOSTILE, Some(limits.clone()))],
    );
    for (name, metadata) in [("hostile-huge", "huge"), ("hostile-loop", "loop")] {
        std::fs::copy(dir.join("hostile.wasm"), dir.join(format!("{name}.wasm"))).unwrap();
        let manifest = format!("{limits}[config]\nname = \"{name}\"\nmetadata = \"{metadata}\"\n");
        std::fs::write(dir.join(format!("{name}.toml")), manifest).unwrap();
    }
    dir
}

fn order(mode: &str) -> Value {
    json!({"provider": "hostile", "model": "m", "prompt": mode, "max_attempts": 1})
}

/// Submits `mode` and returns the failed task.
async fn attack(server: &Server, mode: &str) -> Value {
    let id = server.submit(&order(mode)).await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["status"], "failed", "{mode}: {task}");
    task
}

fn assert_failed(task: &Value, code: &str, says: &str) {
    assert_eq!(task["error_code"], code, "{task}");
    let message = task["error_message"].as_str().unwrap();
    assert!(message.contains(says), "{says:?} in {message}");
    assert!(
        message.len() < 1024,
        "the message is bounded: {} bytes",
        message.len()
    );
}

#[tokio::test]
async fn what_a_hostile_plugin_returns_or_logs_is_bounded_and_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = installed(dir.path());
    let args = ["--plugins-dir", plugins.to_str().unwrap(), "--workers", "8"];
    let server = Server::start(dir.path(), &args).await;
    let warm = server.submit(&echo("warm up")).await;
    server.wait_until_finished(&warm).await;
    let baseline = server.rss_kib();
    reset_peak_rss(&server);

    // Metadata: refused at load, with the reason, and the listing is small.
    let response = server
        .http
        .get(server.url("/api/v1/providers"))
        .send()
        .await
        .unwrap();
    let listing = response.text().await.unwrap();
    assert!(
        listing.len() < 64 << 10,
        "GET /api/v1/providers is {} bytes",
        listing.len()
    );
    let listing: Value = serde_json::from_str(&listing).unwrap();
    let names: Vec<&str> = listing["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "hostile"]);
    let refused = |name: &str| {
        listing["refused"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["error"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{name} is listed as refused: {listing}"))
    };
    let huge = refused("hostile-huge");
    assert!(
        huge.contains("its metadata: the provider's version is 31457280 bytes; the limit is 8192"),
        "{huge}"
    );
    let looping = refused("hostile-loop");
    assert!(looping.contains("did not answer within 5s"), "{looping}");

    let neighbours: Vec<String> = {
        let mut ids = Vec::new();
        for i in 0..4 {
            let body = json!({"provider": "echo", "model": "echo-slow:300", "prompt": format!("neighbour {i}")});
            ids.push(server.submit(&body).await);
        }
        ids
    };

    let task = attack(&server, "model:52428800").await;
    assert_failed(
        &task,
        "output_too_large",
        "model name is 52428800 bytes; the limit is 8192",
    );
    let task = attack(&server, "error:52428800").await;
    assert_failed(
        &task,
        "output_too_large",
        "error message is 52428800 bytes; the limit is 8192",
    );
    let task = attack(&server, "log-flood:100000").await;
    assert_failed(&task, "resource_limit", "1000 lines or 262144 bytes");
    let task = attack(&server, "deny-swallow:http://example.com/").await;
    assert_failed(&task, "egress_denied", "not an allowed origin");
    let task = attack(&server, "deny-flood:5000:http://example.com/").await;
    assert_failed(&task, "egress_denied", "not an allowed origin");
    // Clocks are readable, as the docs say (and decide nothing).
    let id = server.submit(&order("clocks")).await;
    let clocks = server.wait_until_finished(&id).await;
    let text = clocks["result"]["text"].as_str().unwrap_or_default();
    let wall: u64 = text
        .strip_prefix("wall=")
        .and_then(|t| t.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{clocks}"));
    assert!(wall > 1_700_000_000, "{clocks}");
    assert!(!text.ends_with("monotonic=0"), "{clocks}");
    let forged = attack(&server, "log-forge").await;
    assert_eq!(forged["error_code"], "invalid_request", "{forged}");
    assert!(
        forged["error_message"]
            .as_str()
            .unwrap()
            .contains("innocent\n2026"),
        "the task keeps the plugin's text as it is: {forged}"
    );

    for (i, id) in neighbours.iter().enumerate() {
        let task = server.wait_until_finished(id).await;
        assert_eq!(task["result"]["text"], format!("neighbour {i}"), "{task}");
    }
    let (status, _) = server.get_json("/healthz").await;
    assert_eq!(status, 200);
    let after = server.rss_kib();
    let peak = peak_rss_kib(&server);
    let budget = baseline + (HOSTILE_MEMORY >> 10) + (64 << 10);
    eprintln!(
        "RSS: baseline {baseline} KiB, peak during the attacks {peak} KiB, after {after} KiB, \
         budget {budget} KiB"
    );
    assert!(peak <= budget, "peak {peak} KiB over {budget} KiB");
    assert!(
        after <= budget,
        "RSS went from {baseline} KiB to {after} KiB (budget {budget})"
    );

    let log = server.log();
    assert!(log.len() < 2 << 20, "the log is {} bytes", log.len());
    let flood_lines = log
        .lines()
        .filter(|l| l.contains("FORGED admin login"))
        .count();
    // 1,000 flood lines, the forge's own line, and its error in the
    // worker's "attempt failed" line.
    assert!(flood_lines <= 1_002, "{flood_lines} plugin lines");
    assert_no_forged_line(&log);
    assert!(log.contains("innocent\\n2026-01-01T00:00:00.000000Z  INFO llmhost: FORGED admin login\\r\\0\\u{1b}[2K"), "escaped in place");
    assert_eq!(
        log.matches("egress denied").count(),
        2,
        "once per call:\n{}",
        tail(&log)
    );
}

#[tokio::test]
async fn forged_log_lines_stay_inside_their_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &[(test_plugin::HOSTILE, None)]);
    let args = [
        "--plugins-dir",
        plugins.to_str().unwrap(),
        "--log-format",
        "json",
    ];
    let server = Server::start(dir.path(), &args).await;
    // Clocks are readable, as the docs say (and decide nothing).
    let id = server.submit(&order("clocks")).await;
    let clocks = server.wait_until_finished(&id).await;
    let text = clocks["result"]["text"].as_str().unwrap_or_default();
    let wall: u64 = text
        .strip_prefix("wall=")
        .and_then(|t| t.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{clocks}"));
    assert!(wall > 1_700_000_000, "{clocks}");
    assert!(!text.ends_with("monotonic=0"), "{clocks}");
    let forged = attack(&server, "log-forge").await;
    assert_eq!(forged["error_code"], "invalid_request", "{forged}");
    let flood = attack(&server, "log-flood:100000").await;
    assert_eq!(flood["error_code"], "resource_limit", "{flood}");
    let log = server.log();
    assert_no_forged_line(&log);
    for line in log.lines().filter(|l| l.contains("FORGED")) {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let message = entry["fields"]["message"].as_str().unwrap();
        assert!(!message.chars().any(char::is_control), "{message:?}");
    }
}

/// No line of the log starts where the plugin's forged line would.
fn assert_no_forged_line(log: &str) {
    for line in log.lines() {
        assert!(
            !line.starts_with("2026-01-01T00:00:00"),
            "a forged line: {line:?}"
        );
        assert!(
            !line.contains('\0') && !line.contains('\r'),
            "a raw control character: {line:?}"
        );
    }
}

fn tail(log: &str) -> String {
    log.lines().rev().take(40).collect::<Vec<_>>().join("\n")
}
