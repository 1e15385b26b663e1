//! The sandbox: misbehaving plugins fail their own task with a precise code
//! while the server and other tasks carry on; egress only where a manifest
//! allows; secrets added by the host and never seen elsewhere; the compile
//! cache; reloading plugins while tasks run. Each finding of the sandbox
//! review (issue 14) that grew its own tests has a file under `sandbox/`.

mod capacity;
mod loading;
mod memories;
mod resources;
mod retry_after;
mod returned;
mod secrets;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::harness::{Server, echo};
use crate::test_plugin;
use crate::upstream::Upstream;

/// A plugins directory holding the given plugins, each with an optional
/// manifest: a bundled one by name (`"echo"`), a test one by its path
/// (`test_plugin::LOOP`).
pub(crate) fn plugins_dir(root: &Path, plugins: &[(&str, Option<String>)]) -> PathBuf {
    let dir = root.join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    for (plugin, manifest) in plugins {
        let source = if plugin.ends_with(".wasm") {
            PathBuf::from(plugin)
        } else {
            Path::new(env!("LLMHOST_BUNDLED_PLUGINS_DIR")).join(format!("{plugin}.wasm"))
        };
        let name = source.file_stem().unwrap().to_str().unwrap();
        std::fs::copy(&source, dir.join(format!("{name}.wasm")))
            .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        if let Some(manifest) = manifest {
            std::fs::write(dir.join(format!("{name}.toml")), manifest).unwrap();
        }
    }
    dir
}

/// Starts the server's peak RSS (`VmHWM`) over from its current RSS, so
/// that `peak_rss_kib` reports the peak of what follows (an attack), not of
/// compiling plugins at start. Linux: `clear_refs` with 5.
pub(crate) fn reset_peak_rss(server: &Server) {
    std::fs::write(format!("/proc/{}/clear_refs", server.pid()), "5").expect("clear_refs");
}

/// The server's peak RSS since `reset_peak_rss`, in KiB: exact, where
/// sampling `VmRSS` could miss a short spike.
pub(crate) fn peak_rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in kB")
}

fn task(provider: &str, prompt: &str) -> Value {
    json!({"provider": provider, "model": "m", "prompt": prompt, "max_attempts": 1})
}

async fn failure(server: &Server, body: &Value) -> (String, String) {
    let id = server.submit(body).await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert!(task["result"].is_null());
    (
        task["error_code"].as_str().unwrap().to_owned(),
        task["error_message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn misbehaving_plugins_fail_precisely_while_the_server_and_other_tasks_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(
        dir.path(),
        &[
            ("echo", None),
            (test_plugin::LOOP, None),
            (test_plugin::MEMORY_BOMB, None),
            (test_plugin::PANIC, None),
            (test_plugin::HUGE_OUTPUT, None),
        ],
    );
    let server = Server::start(
        dir.path(),
        &["--plugins-dir", plugins.to_str().unwrap(), "--workers", "8"],
    )
    .await;
    let warm = server.submit(&echo("warm up")).await;
    server.wait_until_finished(&warm).await;
    let baseline = server.rss_kib();

    let neighbours: Vec<String> = {
        let mut ids = Vec::new();
        for i in 0..4 {
            let body = json!({"provider": "echo", "model": "echo-slow:300", "prompt": format!("neighbour {i}")});
            ids.push(server.submit(&body).await);
        }
        ids
    };
    let mut looping = task("loop", "x");
    looping["timeout_ms"] = json!(500);
    let cases = [
        (looping, "deadline_exceeded"),
        (task("memory-bomb", "x"), "memory_limit"),
        (task("memory-bomb", "again"), "memory_limit"),
        (task("memory-bomb", "and again"), "memory_limit"),
        (task("panic", "x"), "plugin_trap"),
        (task("huge-output", "x"), "output_too_large"),
    ];
    for (body, expected) in &cases {
        let (code, message) = failure(&server, body).await;
        assert_eq!(&code, expected, "{body}: {message}");
    }
    for (i, id) in neighbours.iter().enumerate() {
        let task = server.wait_until_finished(id).await;
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(task["result"]["text"], format!("neighbour {i}"));
    }
    let (status, _) = server.get_json("/healthz").await;
    assert_eq!(status, 200, "the server is still up");
    let after = server.rss_kib();
    // Each memory bomb reached 64 MiB; the pooling allocator returns it.
    assert!(
        after < baseline + 32 * 1024,
        "RSS grew from {baseline} KiB to {after} KiB"
    );
}

fn egress_manifest(allowed: &Upstream, extra: &str) -> String {
    format!(
        "[egress]\nallow = [\"{}\", \"http://localhost:{}\"]\nmax_response_bytes = 1048576\nbetween_bytes_timeout_ms = 300\n{extra}",
        allowed.origin(),
        allowed.addr.port()
    )
}

#[tokio::test]
async fn egress_reaches_only_what_the_manifest_allows() {
    let allowed = Upstream::start().await;
    let forbidden = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(
        dir.path(),
        &[(test_plugin::EGRESS, Some(egress_manifest(&allowed, "")))],
    );
    let server = Server::start(dir.path(), &["--plugins-dir", plugins.to_str().unwrap()]).await;

    let id = server.submit(&task("egress", &allowed.url("/ok"))).await;
    let ok = server.wait_until_finished(&id).await;
    assert_eq!(ok["status"], "completed", "{ok}");
    assert_eq!(ok["result"]["text"], "hello from upstream");

    let redirect = allowed.url(&format!("/redirect?to={}", forbidden.url("/ok")));
    let localhost = format!("http://localhost:{}/ok", allowed.addr.port());
    let cases = [
        (
            forbidden.url("/ok"),
            "egress_denied",
            "not an allowed origin",
        ),
        (redirect, "egress_denied", "not an allowed origin"),
        (localhost, "egress_denied", "loopback"),
        (allowed.url("/big"), "egress_denied", "limit"),
        (allowed.url("/stall"), "timeout", "stalled"),
    ];
    for (url, code, says) in cases {
        let (got, message) = failure(&server, &task("egress", &url)).await;
        assert_eq!(got, code, "{url}: {message}");
        assert!(message.contains(says), "{url}: {message}");
    }
    assert!(
        forbidden.seen.authorizations().is_empty(),
        "nothing reached the forbidden upstream"
    );
}

#[tokio::test]
async fn a_hostname_is_allowed_to_a_refused_address_only_when_the_manifest_names_it() {
    let allowed = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = egress_manifest(&allowed, "allow_addresses = [\"127.0.0.0/8\", \"::1\"]\n");
    let plugins = plugins_dir(dir.path(), &[(test_plugin::EGRESS, Some(manifest))]);
    let server = Server::start(dir.path(), &["--plugins-dir", plugins.to_str().unwrap()]).await;
    let url = format!("http://localhost:{}/ok", allowed.addr.port());
    let id = server.submit(&task("egress", &url)).await;
    let done = server.wait_until_finished(&id).await;
    assert_eq!(done["status"], "completed", "{done}");
}

#[tokio::test]
async fn secrets_reach_their_upstream_and_nothing_else() {
    let upstream = Upstream::start().await;
    let secret = format!("sk-test-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "[egress]\nallow = [\"{}\"]\n\n[[secret]]\norigin = \"{}\"\nheader = \"authorization\"\nvalue = \"Bearer ${{LLMHOST_TEST_SECRET}}\"\n",
        upstream.origin(),
        upstream.origin()
    );
    let plugins = plugins_dir(dir.path(), &[(test_plugin::SNOOP, Some(manifest))]);
    let env = [
        ("LLMHOST_TEST_SECRET", secret.as_str()),
        ("ANOTHER_HOST_VAR", "visible-to-host-only"),
    ];
    let server = Server::start_with_env(
        dir.path(),
        &["--plugins-dir", plugins.to_str().unwrap()],
        &env,
    )
    .await;

    let id = server.submit(&task("snoop", &upstream.url("/ok"))).await;
    let done = server.wait_until_finished(&id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let report = done["result"]["text"].as_str().unwrap();
    assert!(report.contains("files=denied"), "{report}");
    assert!(report.contains("listing=denied"), "{report}");
    assert!(
        report.contains("env=\n"),
        "no environment variables: {report}"
    );
    assert!(report.contains("authorization=refused"), "{report}");
    assert!(report.contains("plain=200 hello from upstream"), "{report}");
    assert_eq!(
        upstream.seen.authorizations(),
        [Some(format!("Bearer {secret}"))],
        "the upstream got the host's header, never the plugin's"
    );

    // The secret is nowhere but in the request to its upstream.
    let task_json = server.task(&id).await.to_string();
    let logs = server.log();
    drop(server);
    let mut database = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("llmhost.db")
        {
            database.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(!database.is_empty());
    assert!(!task_json.contains(&secret), "task JSON");
    assert!(!logs.contains(&secret), "server log");
    assert!(
        !String::from_utf8_lossy(&database).contains(&secret),
        "database"
    );
}

#[tokio::test]
async fn a_restart_with_a_warm_cache_does_not_recompile() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path(), &[]).await;
    assert!(first.log().contains("cache=Compiled"), "{}", first.log());
    first.terminate().await;
    let second = Server::start(dir.path(), &[]).await;
    let log = second.log();
    assert!(log.contains("cache=Hit"), "{log}");
    assert!(!log.contains("cache=Compiled"), "{log}");
}

#[tokio::test]
async fn replacing_a_plugin_while_tasks_run_fails_none_and_a_broken_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &[("echo", None)]);
    let args = [
        "--plugins-dir",
        plugins.to_str().unwrap(),
        "--workers",
        "16",
        "--plugin-reload-ms",
        "100",
    ];
    let server = Server::start(dir.path(), &args).await;
    let mut running = Vec::new();
    for i in 0..24 {
        let body =
            json!({"provider": "echo", "model": "echo-slow:700", "prompt": format!("run {i}")});
        running.push(server.submit(&body).await);
    }
    // Past pending (a loaded machine may not see it running, 700 ms long).
    server
        .wait_for(&running[0], "started", |t| t["status"] != "pending")
        .await;

    // Replace the file (the watcher reloads it) and reload explicitly too.
    let wasm = plugins.join("echo.wasm");
    let bytes = std::fs::read(&wasm).unwrap();
    std::fs::write(plugins.join("echo.tmp"), &bytes).unwrap();
    std::fs::rename(plugins.join("echo.tmp"), &wasm).unwrap();
    let (status, reload) = server.reload().await;
    assert_eq!(status, 200, "{reload}");

    // A broken file is refused; the loaded version keeps serving.
    std::fs::write(&wasm, b"not a component").unwrap();
    let (status, body) = server.reload().await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("echo"),
        "{body}"
    );
    let after = server.submit(&echo("still serving")).await;
    assert_eq!(
        server.wait_until_finished(&after).await["result"]["text"],
        "still serving"
    );

    for (i, id) in running.iter().enumerate() {
        let task = server.wait_until_finished(id).await;
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(task["result"]["text"], format!("run {i}"));
        assert_eq!(task["attempts"], 1);
    }
}

#[tokio::test]
async fn every_call_starts_from_a_fresh_instance_whatever_the_last_one_left() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &[(test_plugin::STATEFUL, None)]);
    // One worker: every call reuses the same pooled instance slot.
    let args = ["--plugins-dir", plugins.to_str().unwrap(), "--workers", "1"];
    let server = Server::start(dir.path(), &args).await;
    for i in 0..4 {
        let id = server.submit(&task("stateful", &format!("call {i}"))).await;
        let task = server.wait_until_finished(&id).await;
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(
            task["result"]["text"], "calls=0 static=0 grown=0",
            "call {i} saw what an earlier call left"
        );
    }
}
