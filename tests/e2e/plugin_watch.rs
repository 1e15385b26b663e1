//! The plugins directory is watched (inotify on Linux): a plugin copied in
//! or removed is served or gone without a reload request, and a retry due
//! later runs while the embedded store's claimer otherwise sleeps until
//! woken.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Server, echo};
use crate::sandbox::plugins_dir;
use crate::test_plugin;

/// How long the watcher may take; far above `--plugin-reload-ms`.
const PATIENCE: Duration = Duration::from_secs(20);

async fn names(server: &Server) -> Vec<String> {
    let (status, list) = server.get_json("/api/v1/providers").await;
    assert_eq!(status, 200, "{list}");
    list["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls the provider list until `wanted` holds.
async fn wait_for_names(server: &Server, what: &str, wanted: impl Fn(&[String]) -> bool) {
    let start = Instant::now();
    loop {
        let names = names(server).await;
        if wanted(&names) {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{what} never happened: {names:?}\nserver log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_plugin_copied_in_or_removed_is_picked_up_without_a_reload_request() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &[("echo", None)]);
    let args = [
        "--plugins-dir",
        plugins.to_str().unwrap(),
        "--plugin-reload-ms",
        "100",
    ];
    let server = Server::start(dir.path(), &args).await;
    assert_eq!(names(&server).await, ["echo"]);

    let source = std::path::Path::new(test_plugin::STATEFUL);
    std::fs::copy(source, plugins.join("stateful.wasm")).unwrap();
    wait_for_names(&server, "loading stateful", |n| {
        n.iter().any(|n| n == "stateful")
    })
    .await;

    std::fs::remove_file(plugins.join("stateful.wasm")).unwrap();
    wait_for_names(&server, "removing stateful", |n| n == ["echo"]).await;
    let id = server.submit(&echo("still here")).await;
    assert_eq!(
        server.wait_until_finished(&id).await["result"]["text"],
        "still here"
    );
}

#[tokio::test]
async fn a_retry_due_later_runs_though_nothing_else_wakes_the_claimer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    // Rate limited with a retry-after: the retry is due a while later,
    // with no submission to wake the workers in between.
    let body = json!({"provider": "echo", "model": "echo-error:rate_limited", "prompt": "x", "max_attempts": 2});
    let id = server.submit(&body).await;
    let done: Value = server.wait_until_finished(&id).await;
    assert_eq!(done["attempts"], 2, "{done}");
    assert_eq!(done["error_code"], "rate_limited", "{done}");
}
