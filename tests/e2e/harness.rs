//! Starts real `llmhost serve` processes and talks to them over HTTP.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long any awaited condition may take before the test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

pub(crate) struct Server {
    child: Child,
    /// The API's base URL (empty for a worker-only process).
    pub base: String,
    pub http: reqwest::Client,
    log: PathBuf,
}

impl Server {
    /// Starts a server (API and workers) on a free port with its database
    /// in `data_dir`.
    pub(crate) async fn start(data_dir: &Path, extra_args: &[&str]) -> Self {
        Self::spawn(data_dir, extra_args, &[], "llmhost listening on ").await
    }

    /// Starts a server whose one worker is busy for the rest of the test,
    /// so that what is submitted next stays pending (the embedded database
    /// serves one process: there is no API-only process to keep tasks
    /// from running).
    pub(crate) async fn start_with_busy_worker(data_dir: &Path) -> Self {
        let server = Self::start(data_dir, &["--workers", "1"]).await;
        let busy = serde_json::json!({
            "provider": "echo", "model": "echo-slow:600000", "prompt": "busy", "timeout_ms": 600000
        });
        let id = server.submit(&busy).await;
        server
            .wait_for(&id, "running", |t| t["status"] == "running")
            .await;
        server
    }

    /// Like `start`, with extra environment variables.
    pub(crate) async fn start_with_env(
        data_dir: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::spawn(data_dir, extra_args, env, "llmhost listening on ").await
    }

    /// Starts a worker-only process (`--role worker` and a database URL
    /// among `args`).
    pub(crate) async fn start_worker(data_dir: &Path, args: &[&str]) -> Self {
        Self::spawn(data_dir, args, &[], "llmhost worker running").await
    }

    /// Starts a worker-only process with `--metrics-listen` among `args`;
    /// its `base` is the metrics listener's URL.
    pub(crate) async fn start_worker_with_metrics(data_dir: &Path, args: &[&str]) -> Self {
        Self::spawn(data_dir, args, &[], "llmhost metrics on ").await
    }

    /// Starts `llmhost serve` and waits for its readiness line on stdout;
    /// what follows the line's `ready` prefix is the base URL.
    async fn spawn(
        data_dir: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
        ready: &'static str,
    ) -> Self {
        let log = data_dir.join(format!("server-{}.log", unique_suffix()));
        let stderr = std::fs::File::create(&log).expect("create the server log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_llmhost"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra_args)
            .env("RUST_LOG", "info,llmhost=debug")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("start llmhost");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(url) = line.strip_prefix(ready) {
                    return Some(url.to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("the server did not start; its log:\n{}", read(&log)));
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            base,
            http: reqwest::Client::new(),
            log,
        }
    }

    pub(crate) fn pid(&self) -> i32 {
        self.child.id().expect("running") as i32
    }

    /// The process's resident memory, in KiB.
    pub(crate) fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .expect("VmRSS");
        line.split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("VmRSS in kB")
    }

    /// The CPU time the process has used (user and system), in ms.
    pub(crate) fn cpu_ms(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
        // Fields after the command name, which is in parentheses: utime
        // and stime are the 12th and 13th, in clock ticks of 10 ms.
        let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..]
            .split_whitespace()
            .collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks * 10
    }

    pub(crate) fn log(&self) -> String {
        read(&self.log)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal).expect("signal");
    }

    /// `kill -9`: no chance to clean up.
    pub(crate) async fn kill(mut self) {
        self.child.start_kill().expect("kill");
        self.child.wait().await.expect("reap");
    }

    /// SIGTERM, then waits for the process to exit on its own.
    pub(crate) async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.pid());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the server exits after SIGTERM")
            .expect("reap")
    }

    /// Waits for the process to exit on its own (after a signal sent with
    /// `signal`).
    pub(crate) async fn wait_for_exit(mut self) -> std::process::ExitStatus {
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the server exits")
            .expect("reap")
    }

    /// POSTs a task; returns the HTTP status and the JSON body.
    pub(crate) async fn post_task(&self, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/api/v1/tasks"))
            .json(body)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// Submits a task that must be accepted; returns its id.
    pub(crate) async fn submit(&self, body: &Value) -> String {
        let (status, task) = self.post_task(body).await;
        assert_eq!(status, 201, "submit {body}: {task}");
        assert_eq!(task["status"], "pending");
        task["task_id"].as_str().expect("task_id").to_owned()
    }

    /// Asks the server to reload its plugins now; returns the HTTP status
    /// and the JSON body.
    pub(crate) async fn reload(&self) -> (u16, Value) {
        let url = self.url("/api/v1/providers/reload");
        let response = self.http.post(url).send().await.expect("POST reload");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// Asks to cancel a task; returns the HTTP status and the JSON body.
    pub(crate) async fn cancel(&self, id: &str) -> (u16, Value) {
        let url = self.url(&format!("/api/v1/tasks/{id}/cancel"));
        let response = self.http.post(url).send().await.expect("POST cancel");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    pub(crate) async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    pub(crate) async fn task(&self, id: &str) -> Value {
        let (status, task) = self.get_json(&format!("/api/v1/tasks/{id}")).await;
        assert_eq!(status, 200, "GET task {id}: {task}");
        task
    }

    /// Polls the task until `done` holds, failing the test after `PATIENCE`.
    pub(crate) async fn wait_for(
        &self,
        id: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let task = self.task(id).await;
            if done(&task) {
                return task;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "task {id} never became {what}: {task}\nserver log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn wait_until_finished(&self, id: &str) -> Value {
        self.wait_for(id, "finished", |t| {
            matches!(
                t["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            )
        })
        .await
    }

    /// Every task in the store, newest first.
    pub(crate) async fn all_tasks(&self) -> Vec<Value> {
        let mut tasks = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/tasks?limit=500&cursor={c}"),
                None => "/api/v1/tasks?limit=500".to_owned(),
            };
            let (status, page) = self.get_json(&path).await;
            assert_eq!(status, 200, "{page}");
            tasks.extend(page["tasks"].as_array().expect("tasks").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return tasks,
            }
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn unique_suffix() -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// A request body for the echo provider.
pub(crate) fn echo(prompt: &str) -> Value {
    serde_json::json!({ "provider": "echo", "model": "echo", "prompt": prompt })
}

/// Runs `llmhost ARGS` to completion with no `LLMHOST_*` variable but those
/// in `env`; fails the test if it runs longer than `PATIENCE`.
pub(crate) async fn run_llmhost(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_llmhost"));
    command.args(args).kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("LLMHOST_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    tokio::time::timeout(PATIENCE, command.output())
        .await
        .unwrap_or_else(|_| panic!("llmhost {args:?} did not exit"))
        .expect("run llmhost")
}
