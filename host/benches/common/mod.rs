//! What the load-generating benches share: the real `llmhost serve` as a
//! child process, its memory and task counts, settings from the
//! environment, percentiles.

#![allow(dead_code, reason = "each bench uses its own part of this module")]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `llmhost serve` on a free port, with its own data directory;
/// killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub base: String,
    pub addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Server {
    pub(crate) async fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[]).await
    }

    pub(crate) async fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_llmhost"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start llmhost");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines.next_line().await.unwrap().expect("llmhost started");
            if let Some(url) = line.strip_prefix("llmhost listening on ") {
                break url.to_owned();
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let addr = base.trim_start_matches("http://").parse().unwrap();
        Self {
            child,
            base,
            addr,
            _dir: dir,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// Resident memory of the server process, in MiB.
    pub(crate) fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kb / 1024.0
    }

    /// CPU time the server process has used so far (user + system): unlike
    /// wall-clock rates, barely moved by other load on the machine.
    pub(crate) fn cpu_time(&self) -> Duration {
        cpu_time_of(&format!("/proc/{}/stat", self.pid()))
    }

    /// One sample of the store's counts, from `/metrics`.
    pub(crate) async fn tasks_in(&self, http: &reqwest::Client, status: &str) -> u64 {
        let text = http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let key = format!("llmhost_tasks{{status=\"{status}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// User + system CPU time from a `/proc/.../stat` file.
pub(crate) fn cpu_time_of(stat_path: &str) -> Duration {
    let stat = std::fs::read_to_string(stat_path).unwrap();
    // Fields after the command name (which may hold spaces) start at ")".
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(ticks * 10)
}

/// CPU time this (the load-generating) process has used so far.
pub(crate) fn own_cpu_time() -> Duration {
    cpu_time_of("/proc/self/stat")
}

pub(crate) fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `q` quantile of sorted samples.
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q) as usize]
}

/// The machine's load average over the last minute, to print beside
/// wall-clock results.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
