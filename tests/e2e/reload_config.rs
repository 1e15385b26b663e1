//! Reloading the configuration file's providers and routes while serving:
//! `POST /api/v1/providers/reload`, SIGHUP and the file's watch put a
//! changed file in force (a new instance, a route moved to it) without
//! dropping a task running over the old route; a file naming an unknown
//! instance is refused with the reason, and the providers and routes in
//! force keep serving.

use std::time::Instant;

use serde_json::{Value, json};

use crate::harness::{PATIENCE, Server};

/// Instances of `echo` under other names, and routes over them.
fn config(instances: &[&str], smart: &str) -> String {
    let mut text = String::new();
    for name in instances {
        text.push_str(&format!("[providers.{name}]\nplugin = \"echo\"\n\n"));
    }
    text.push_str(&format!(
        "[routes.smart]\ntargets = [{{ model = \"{smart}\" }}]\n\n\
         [routes.slow]\ntargets = [{{ model = \"echo/echo-slow:3000\" }}]\n"
    ));
    text
}

/// The target `/v1` answers `smart` from.
async fn smart_target(server: &Server) -> String {
    let response = server
        .http
        .post(server.url("/v1/chat/completions"))
        .json(&json!({"model": "smart", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["x-llmhost-target"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn route_targets(server: &Server, name: &str) -> Vec<String> {
    let (_, body) = server.get_json("/api/v1/routes").await;
    body["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .map(|r| {
            r["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["target"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_changed_file_is_put_in_force_without_dropping_tasks_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("llmhost.toml");
    std::fs::write(&file, config(&["one"], "one/echo")).unwrap();
    // The watch off: only the request and SIGHUP reload here.
    let args = [
        "--config",
        file.to_str().unwrap(),
        "--plugin-reload-ms",
        "0",
    ];
    let server = Server::start(dir.path(), &args).await;
    assert_eq!(smart_target(&server).await, "one/echo");

    let running = server
        .submit(&json!({"model": "slow", "prompt": "still here"}))
        .await;
    server
        .wait_for(&running, "running", |t| t["status"] == "running")
        .await;

    // A new instance, `smart` moved to it, `slow` gone.
    std::fs::write(
        &file,
        config(&["one", "two"], "two/echo").replace("[routes.slow]", "[routes.later]"),
    )
    .unwrap();
    let (status, body) = server.reload().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["configuration"]["providers"], json!(["one", "two"]));
    assert_eq!(
        body["configuration"]["routes"],
        json!(["later", "smart"]),
        "{body}"
    );
    assert_eq!(smart_target(&server).await, "two/echo");
    let task = server.wait_until_finished(&running).await;
    assert_eq!(task["status"], "completed", "not dropped: {task}");
    assert_eq!(task["result"]["text"], "still here");
    // The route is gone now: refused at submit.
    let (status, _) = server
        .post_task(&json!({"model": "slow", "prompt": "x"}))
        .await;
    assert_eq!(status, 422);

    // A route naming an instance that does not exist: refused, naming it.
    std::fs::write(&file, config(&["one"], "three/echo")).unwrap();
    let (status, body) = server.reload().await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_configuration");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("routes.smart: targets: \"three/echo\": no provider instance \"three\""),
        "{message}"
    );
    assert!(message.contains("keep serving"), "{message}");
    assert_eq!(
        smart_target(&server).await,
        "two/echo",
        "the old one serves"
    );
    // Not TOML at all: refused too.
    std::fs::write(&file, "[routes.smart\n").unwrap();
    let (status, body): (u16, Value) = server.reload().await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(smart_target(&server).await, "two/echo");

    // SIGHUP reads the file again.
    std::fs::write(&file, config(&["one"], "one/echo")).unwrap();
    server.signal(nix::sys::signal::Signal::SIGHUP);
    wait_for_smart(&server, "one/echo", "SIGHUP did not reload").await;
    assert_eq!(smart_target(&server).await, "one/echo");
}

/// Polls the route list until `smart` goes to `target` alone.
async fn wait_for_smart(server: &Server, target: &str, what: &str) {
    let started = Instant::now();
    while route_targets(server, "smart").await != [target] {
        assert!(started.elapsed() < PATIENCE, "{what}:\n{}", server.log());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_written_file_is_put_in_force_by_the_watch_and_a_bad_one_refused_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("llmhost.toml");
    std::fs::write(&file, config(&["one"], "one/echo")).unwrap();
    let args = [
        "--config",
        file.to_str().unwrap(),
        "--plugin-reload-ms",
        "100",
    ];
    let server = Server::start(dir.path(), &args).await;
    assert_eq!(smart_target(&server).await, "one/echo");
    let running = server
        .submit(&json!({"model": "slow", "prompt": "still here"}))
        .await;
    server
        .wait_for(&running, "running", |t| t["status"] == "running")
        .await;

    // Written in place: in force with no request and no signal.
    std::fs::write(&file, config(&["one", "two"], "two/echo")).unwrap();
    wait_for_smart(&server, "two/echo", "the written file was not put in force").await;
    assert_eq!(smart_target(&server).await, "two/echo");
    let task = server.wait_until_finished(&running).await;
    assert_eq!(task["status"], "completed", "not dropped: {task}");

    // A route naming no instance: refused with the reason in the log, and
    // the file in force keeps serving.
    std::fs::write(&file, config(&["one"], "three/echo")).unwrap();
    let started = Instant::now();
    while !server.log().contains("reload refused") {
        assert!(
            started.elapsed() < PATIENCE,
            "the bad file was not refused:\n{}",
            server.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let log = server.log();
    let refusal = log.lines().find(|l| l.contains("reload refused")).unwrap();
    assert!(
        refusal.contains("routes.smart: targets: \"three/echo\": no provider instance \"three\""),
        "{refusal}"
    );
    assert_eq!(
        smart_target(&server).await,
        "two/echo",
        "the old one serves"
    );

    // Replaced by a rename, as editors save: the new file is watched too.
    let next = dir.path().join("llmhost.toml.new");
    std::fs::write(&next, config(&["one"], "one/echo")).unwrap();
    std::fs::rename(&next, &file).unwrap();
    wait_for_smart(&server, "one/echo", "the renamed file was not put in force").await;
    std::fs::write(&file, config(&["one", "two"], "two/echo")).unwrap();
    wait_for_smart(&server, "two/echo", "a write after the rename was missed").await;
    assert_eq!(smart_target(&server).await, "two/echo");
}
