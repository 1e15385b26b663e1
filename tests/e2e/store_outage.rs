//! PostgreSQL behind a path that goes silent (packets dropped, no RST):
//! an API process and a worker process keep answering, with
//! `503 store_unavailable` and `Retry-After` instead of hanging or `500`;
//! `/readyz` says so; both recover on fresh connections once the database
//! can be reached again, within the bound the README states; no task they
//! accepted is lost. Skipped without a PostgreSQL server, except under CI.
//! And the embedded database on a small file system that fills up: `503
//! store_unavailable` naming the full disk, then submissions again once
//! space is freed (skipped where a tmpfs cannot be mounted).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::freeze_proxy::FreezeProxy;
use crate::harness::{PATIENCE, Server, echo};
use llmhost_store::testing::TestDatabase;

/// What the README promises: once the database answers again, a
/// submission is accepted and a worker claims within this.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);

/// The test database's URL, through the proxy.
async fn proxied(db: &TestDatabase) -> (FreezeProxy, String) {
    let mut url = url::Url::parse(&db.url).unwrap();
    let upstream = tokio::net::lookup_host((
        url.host_str().unwrap().to_owned(),
        url.port().unwrap_or(5432),
    ))
    .await
    .unwrap()
    .next()
    .unwrap();
    let proxy = FreezeProxy::start(upstream).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.addr.port())).unwrap();
    (proxy, url.to_string())
}

/// POSTs a task: its status, `Retry-After`, body, and how long it took.
async fn post(api: &Server, body: &Value) -> (u16, Option<String>, Value, Duration) {
    let started = Instant::now();
    let response = api
        .http
        .post(api.url("/api/v1/tasks"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap();
    (status, retry_after, body, started.elapsed())
}

async fn readiness(server: &Server) -> u16 {
    server.get_json("/readyz").await.0
}

/// Awaits `check` until it holds; how long that took.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < PATIENCE, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn a_silent_database_path_is_answered_503_and_both_processes_recover_on_fresh_connections() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (proxy, url) = proxied(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let api = Server::start(dir.path(), &["--role", "api", "--database-url", &url]).await;
    let worker = Server::start_worker_with_metrics(
        dir.path(),
        &[
            "--role",
            "worker",
            "--database-url",
            &url,
            "--lease-ms",
            "3000",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    )
    .await;
    let mut accepted = Vec::new();
    for i in 0..5 {
        accepted.push(api.submit(&echo(&format!("before {i}"))).await);
    }
    for id in &accepted {
        api.wait_until_finished(id).await;
    }
    // Running across the fault: its worker cannot record it until after.
    let across = api
        .submit(&json!({"provider": "echo", "model": "echo-slow:1500", "prompt": "across"}))
        .await;
    api.wait_for(&across, "running", |t| t["status"] == "running")
        .await;
    accepted.push(across);

    proxy.freeze();
    let mut answers = Vec::new();
    for i in 0..20 {
        let (status, retry_after, body, took) = post(&api, &echo(&format!("during {i}"))).await;
        if status == 201 {
            accepted.push(body["task_id"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(status, 503, "never a 500: {body}");
            assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("the database") && message.contains("retry later"),
                "{message}"
            );
            assert_eq!(retry_after.as_deref(), Some("1"));
        }
        answers.push((status, took));
    }
    let slowest = answers.iter().map(|(_, took)| *took).max().unwrap();
    let fast = answers[answers.len() / 2..]
        .iter()
        .filter(|(_, took)| *took < Duration::from_millis(500))
        .count();
    eprintln!("during the fault: {answers:?}");
    assert!(
        slowest < Duration::from_secs(10),
        "no submission waits past the statement deadline: {answers:?}"
    );
    assert!(
        fast >= answers.len() / 4,
        "once the outage is known most answers are at once: {answers:?}"
    );
    until("the API not ready", async || readiness(&api).await == 503).await;
    until("the worker not ready", async || {
        readiness(&worker).await == 503
    })
    .await;

    proxy.thaw();
    let thawed = Instant::now();
    until("a submission accepted", async || {
        let (status, _, body, _) = post(&api, &echo("after")).await;
        if status == 201 {
            accepted.push(body["task_id"].as_str().unwrap().to_owned());
        }
        status == 201
    })
    .await;
    let accepting = thawed.elapsed();
    api.wait_until_finished(accepted.last().unwrap()).await;
    let claimed = thawed.elapsed();
    eprintln!(
        "after the fault: accepting again after {accepting:?}, a new task run after {claimed:?}"
    );
    assert!(
        claimed < RECOVERY_BOUND,
        "submissions and claims recover within {RECOVERY_BOUND:?}: took {claimed:?}"
    );
    until("the API ready", async || readiness(&api).await == 200).await;
    until("the worker ready", async || readiness(&worker).await == 200).await;

    for id in &accepted {
        let task = api.wait_until_finished(id).await;
        assert_eq!(
            task["status"], "completed",
            "no accepted task is lost: {task}"
        );
    }
    let stored = api.all_tasks().await;
    assert_eq!(
        stored.len(),
        accepted.len(),
        "nothing stored that was refused"
    );
    assert!(
        api.log().contains("opening fresh database connections"),
        "{}",
        api.log()
    );
}

/// A tmpfs of `size`, unmounted when dropped. `None` where this process may
/// not mount (not root, or a container that forbids it).
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(path: std::path::PathBuf, size: &str) -> Option<Self> {
        std::fs::create_dir_all(&path).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Self { path })
    }

    /// Writes a file until the disk refuses more; the file.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if let Err(err) = file.write_all(&chunk).and_then(|()| file.sync_all()) {
                assert_eq!(err.kind(), std::io::ErrorKind::StorageFull, "{err}");
                // What is left is smaller than a chunk: take it too.
                while file.write_all(&chunk[..512]).is_ok() {}
                return filler;
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_is_answered_503_naming_it_and_submissions_resume_when_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(dir.path().join("small"), "8m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root and a container that allows it)");
        return;
    };
    let url = format!("sqlite://{}", disk.path.join("llmhost.db").display());
    // The log and the compiled plugins stay on the big disk.
    let server = Server::start(dir.path(), &["--database-url", &url]).await;
    let big = |i: usize| echo(&format!("{i} {}", "x".repeat(200 * 1024)));
    let mut accepted = Vec::new();
    for i in 0..3 {
        accepted.push(server.submit(&big(i)).await);
    }
    let filler = disk.fill();

    let mut refused = None;
    for i in 3..40 {
        let (status, retry_after, body, took) = post(&server, &big(i)).await;
        match status {
            201 => accepted.push(body["task_id"].as_str().unwrap().to_owned()),
            503 => {
                assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
                assert_eq!(retry_after.as_deref(), Some("1"));
                eprintln!("refused after {took:?}: {body}");
                refused = Some(body);
                break;
            }
            other => panic!("never a {other}: {body}\n{}", server.log()),
        }
    }
    let refused = refused.expect("the full disk refuses a submission");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("disk is full"), "{message}");
    assert!(
        server.log().contains("disk is full"),
        "named in the log too"
    );

    std::fs::remove_file(filler).unwrap();
    until("a submission accepted", async || {
        let (status, _, body, _) = post(&server, &echo("after")).await;
        assert!(status == 201 || status == 503, "{status}: {body}");
        if status == 201 {
            accepted.push(body["task_id"].as_str().unwrap().to_owned());
        }
        status == 201
    })
    .await;
    for id in &accepted {
        let task = server.wait_until_finished(id).await;
        assert_eq!(
            task["status"], "completed",
            "no accepted task is lost: {task}"
        );
    }
    assert_eq!(server.all_tasks().await.len(), accepted.len());
    assert_eq!(server.get_json("/readyz").await.0, 200);
}
