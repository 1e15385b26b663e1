//! Finding 1: one call's memory budget covers every linear memory of its
//! instance. A component whose core module has four memories (the most one
//! call may have; built by `crates/test-plugins/build/memories.rs`) grows
//! them all at once: three such calls at the same time each fail with
//! `memory_limit` at 64 MiB in all, the server's RSS stays within three
//! budgets of its baseline (its peak, `VmHWM`), echo keeps completing
//! and `/healthz` answers. A component with nine memories is refused at
//! load, with the reason.

use serde_json::json;

use super::loading::refused;
use super::{peak_rss_kib, plugins_dir, reset_peak_rss};
use crate::harness::{Server, echo};
use crate::test_plugin;

const MIB: u64 = 1024;

#[tokio::test]
async fn a_component_with_many_memories_gets_one_budget_and_one_with_too_many_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(
        dir.path(),
        &[
            ("echo", None),
            (test_plugin::MANY_MEMORIES, None),
            (test_plugin::TOO_MANY_MEMORIES, None),
        ],
    );
    let args = ["--plugins-dir", plugins.to_str().unwrap(), "--workers", "8"];
    let server = Server::start(dir.path(), &args).await;

    let listed = refused(&server).await;
    let (_, why) = listed
        .iter()
        .find(|(name, _)| name == "too-many-memories")
        .unwrap_or_else(|| panic!("too-many-memories is refused: {listed:?}"));
    assert!(
        why.contains("defined memories count of 9 exceeds the per-instance limit of 4"),
        "{why}"
    );

    let warm = server.submit(&echo("warm up")).await;
    server.wait_until_finished(&warm).await;
    let baseline = server.rss_kib();
    reset_peak_rss(&server);

    let mut neighbours = Vec::new();
    for i in 0..4 {
        let body = json!({"provider": "echo", "model": "echo-slow:300", "prompt": format!("neighbour {i}")});
        neighbours.push(server.submit(&body).await);
    }
    let attack =
        json!({"provider": "many-memories", "model": "m", "prompt": "x", "max_attempts": 1});
    let mut attacks = Vec::new();
    for _ in 0..3 {
        attacks.push(server.submit(&attack).await);
    }

    for id in &attacks {
        let task = server.wait_until_finished(id).await;
        assert_eq!(task["error_code"], "memory_limit", "{task}");
        let message = task["error_message"].as_str().unwrap();
        assert!(message.contains("67108864"), "{message}");
    }
    for (i, id) in neighbours.iter().enumerate() {
        let task = server.wait_until_finished(id).await;
        assert_eq!(task["result"]["text"], format!("neighbour {i}"), "{task}");
    }
    let (status, _) = server.get_json("/healthz").await;
    assert_eq!(status, 200);

    let after = server.rss_kib();
    let peak = peak_rss_kib(&server);
    // Three calls at their 64 MiB at once, and the host's own 32 MiB of slack.
    let budget = baseline + 3 * 64 * MIB + 32 * MIB;
    eprintln!(
        "RSS: baseline {baseline} KiB, peak during three many-memory calls {peak} KiB \
         (budget {budget} KiB), after {after} KiB"
    );
    assert!(peak <= budget, "peak {peak} KiB over {budget} KiB");
    assert!(
        after <= baseline + 32 * MIB,
        "RSS went from {baseline} KiB to {after} KiB"
    );
}
