//! Findings 3 and 8: what sits in the plugins directory cannot stall the
//! server or keep it busy. A FIFO, a directory and a 200 MB file named
//! `*.wasm`, present at start and added while running, are refused with
//! their reason in `GET /api/v1/providers`, while the server starts, serves
//! and answers `/healthz`; a file that failed is not read again until it
//! changes, so the server stays idle between reload ticks; its peak RSS
//! while they are added stays within 64 MiB of what it was.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{peak_rss_kib, plugins_dir, reset_peak_rss};
use crate::harness::{PATIENCE, Server, echo};

fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo").arg(path).status();
    assert!(
        made.expect("run mkfifo").success(),
        "mkfifo {}",
        path.display()
    );
}

/// A sparse file of `bytes` zeros: large, and costless to make.
fn large_file(path: &Path, bytes: u64) {
    std::fs::File::create(path).unwrap().set_len(bytes).unwrap();
}

/// `bytes` of noise: under the size cap, so only remembering that it failed
/// keeps it from being read and hashed again at every tick.
fn junk_file(path: &Path, bytes: usize) {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let noise: Vec<u8> = (0..bytes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(path, noise).unwrap();
}

/// `refused` of `GET /api/v1/providers`, by name.
pub(super) async fn refused(server: &Server) -> Vec<(String, String)> {
    let (status, body) = server.get_json("/api/v1/providers").await;
    assert_eq!(status, 200, "{body}");
    body["refused"]
        .as_array()
        .expect("refused")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().into(),
                r["error"].as_str().unwrap().into(),
            )
        })
        .collect()
}

async fn provider_names(server: &Server) -> Vec<Value> {
    let (_, body) = server.get_json("/api/v1/providers").await;
    body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect()
}

/// Waits until every `(name, reason)` is listed as refused.
async fn await_refused(server: &Server, expected: &[(&str, &str)]) {
    let start = Instant::now();
    loop {
        let listed = refused(server).await;
        let all = expected.iter().all(|(name, says)| {
            listed
                .iter()
                .any(|(n, why)| n == name && why.contains(says))
        });
        if all {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "never refused {expected:?}: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn still_serving(server: &Server, prompt: &str) {
    let id = server.submit(&echo(prompt)).await;
    assert_eq!(
        server.wait_until_finished(&id).await["result"]["text"],
        prompt
    );
    let (status, _) = server.get_json("/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn files_that_are_not_components_are_refused_with_their_reason_and_cost_nothing_after() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &[("echo", None)]);
    mkfifo(&plugins.join("fifo.wasm"));
    std::fs::create_dir(plugins.join("folder.wasm")).unwrap();
    large_file(&plugins.join("big.wasm"), 200 << 20);
    junk_file(&plugins.join("junk.wasm"), 32 << 20);
    // A manifest bound out of its range (finding 10) refuses its plugin.
    std::fs::copy(plugins.join("echo.wasm"), plugins.join("ranged.wasm")).unwrap();
    let huge = "[limits]\nmemory_bytes = 9223372036854775807\n";
    std::fs::write(plugins.join("ranged.toml"), huge).unwrap();
    // So does a wildcard over address digits (finding 10): `*.0.0.1` once
    // matched the address 127.0.0.1.
    std::fs::copy(plugins.join("echo.wasm"), plugins.join("wildcard.wasm")).unwrap();
    let wildcard = "[egress]\nallow = [\"http://*.0.0.1\"]\n";
    std::fs::write(plugins.join("wildcard.toml"), wildcard).unwrap();

    // It starts (it used to block reading the FIFO and never listen).
    let args = [
        "--plugins-dir",
        plugins.to_str().unwrap(),
        "--plugin-reload-ms",
        "100",
    ];
    let server = Server::start(dir.path(), &args).await;
    assert_eq!(provider_names(&server).await, ["echo"]);
    let at_start = [
        ("fifo", "a FIFO (named pipe), not a regular file"),
        ("folder", "a directory, not a regular file"),
        ("big", "209715200 bytes; the limit is 67108864"),
        ("junk", "junk.wasm"),
        (
            "ranged",
            "limits.memory_bytes = 9223372036854775807 is out of range",
        ),
        ("wildcard", "a wildcard covers host names, not IP addresses"),
    ];
    await_refused(&server, &at_start).await;
    still_serving(&server, "with hostile files present").await;

    // Added while running: the watcher refuses them too, without reading
    // them (the 200 MB one would show in the peak RSS).
    let baseline = server.rss_kib();
    reset_peak_rss(&server);
    mkfifo(&plugins.join("fifo2.wasm"));
    std::fs::create_dir(plugins.join("folder2.wasm")).unwrap();
    // Made whole, then renamed in: the watcher sees it once.
    large_file(&plugins.join("big2.part"), 200 << 20);
    std::fs::rename(plugins.join("big2.part"), plugins.join("big2.wasm")).unwrap();
    let added = [
        ("fifo2", "a FIFO (named pipe), not a regular file"),
        ("folder2", "a directory, not a regular file"),
        ("big2", "209715200 bytes; the limit is 67108864"),
    ];
    await_refused(&server, &added).await;
    still_serving(&server, "with more of them").await;
    let peak = peak_rss_kib(&server);
    eprintln!("RSS: {baseline} KiB before files were added, peak {peak} KiB after");
    assert!(
        peak <= baseline + (64 << 10),
        "peak {peak} KiB, from {baseline} KiB"
    );

    // Idle: at 10 reloads a second, the refused files are not read again
    // (32 MiB of junk read and hashed at every tick would cost a core).
    let before = server.cpu_ms();
    let window = Duration::from_secs(3);
    tokio::time::sleep(window).await;
    let spent = server.cpu_ms() - before;
    eprintln!("CPU while idle with refused files present: {spent} ms in {window:?}");
    assert!(
        spent < 600,
        "{spent} ms of CPU in {window:?} of idle reload ticks"
    );
    let tries = server.log().matches("could not load provider").count();
    assert_eq!(tries, 9, "each file was tried once:\n{}", server.log());

    // A changed file is tried again.
    std::fs::copy(plugins.join("echo.wasm"), plugins.join("junk.part")).unwrap();
    std::fs::rename(plugins.join("junk.part"), plugins.join("junk.wasm")).unwrap();
    await_refused(&server, &[("junk", "declares the name \"echo\"")]).await;
    still_serving(&server, "after all that").await;
}
