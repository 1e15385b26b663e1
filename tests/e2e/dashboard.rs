//! The dashboard at `/ui`, served by the real binary: its assets without a
//! token and with their security headers, and, in headless Chromium
//! (Playwright for Python driving Debian's `chromium`; `dashboard.py`),
//! every scenario of issue 16: log in, a playground task streams, found by
//! filter, its detail and attempts, a running task cancelled live, a failed
//! task's error, a broken plugin on the providers page, and no secret value
//! in any page or asset.

use std::path::{Path, PathBuf};

use crate::harness::Server;
use crate::openai_compat::venv_python;

const TOKEN: &str = "dashboard-token-0123456789";
const SECRET: &str = "dashboard-s3cret-never-shown";

/// Chromium from Debian, installed here when missing (CI runs as root);
/// `None` (skipped) when it cannot be, except under CI.
fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/chromium");
    if !path.exists() {
        let apt = |args: &[&str]| {
            std::process::Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success())
        };
        // The package lists may be missing or old on a fresh machine.
        let _ = apt(&["install", "-y", "-qq", "chromium"])
            || (apt(&["update", "-qq"]) && apt(&["install", "-y", "-qq", "chromium"]));
    }
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI needs Debian's chromium (apt-get install chromium)"
    );
    eprintln!("skipped: no /usr/bin/chromium");
    None
}

/// A plugins directory: `echo`, `openai` (under an instance whose secret
/// the pages must never show) and a `broken.wasm` that is no component.
fn plugins_dir(root: &Path) -> String {
    let plugins = root.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let bundled = Path::new(env!("LLMHOST_BUNDLED_PLUGINS_DIR"));
    for name in ["echo.wasm", "openai.wasm"] {
        std::fs::copy(bundled.join(name), plugins.join(name)).unwrap();
    }
    std::fs::write(plugins.join("broken.wasm"), b"not a component").unwrap();
    plugins.to_str().unwrap().to_owned()
}

fn config(root: &Path) -> String {
    let path = root.join("llmhost.toml");
    let text = r#"[providers.vendor]
plugin = "openai"
config = { base_url = "http://127.0.0.1:9/v1" }
egress.allow = ["http://127.0.0.1:9"]
secrets = [{ origin = "http://127.0.0.1:9", header = "authorization", value = "Bearer ${DASHBOARD_KEY}" }]

[routes.flaky]
targets = [{ model = "echo/echo-error:rate_limited" }, { model = "echo/echo" }]
"#;
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_dashboard_assets_load_without_a_token_under_a_strict_content_policy() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--auth-token", TOKEN]).await;
    let root = server.http.get(server.url("/")).send().await.unwrap();
    assert_eq!(root.url().path(), "/ui", "the root sends a browser to /ui");
    assert_eq!(root.status(), 200);
    let csp = root.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(root.text().await.unwrap().contains("/ui/app.js"));
    let script = server
        .http
        .get(server.url("/ui/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let missing = server.get_json("/ui/nope.js").await;
    assert_eq!(missing.0, 404);
    assert_eq!(missing.1["error"]["code"], "not_found");
    // The data is not public: the API still wants the token.
    let (status, _) = server.get_json("/api/v1/overview").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn in_a_browser_an_operator_logs_in_follows_tasks_cancels_and_sees_failures_and_no_secret() {
    let Some(python) = tokio::task::spawn_blocking(|| {
        chromium()?;
        venv_python("test-venv-playwright", &["playwright>=1.40,<2"])
    })
    .await
    .unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path());
    let config = config(dir.path());
    let server = Server::start_with_env(
        dir.path(),
        &[
            "--auth-token",
            TOKEN,
            "--plugins-dir",
            &plugins,
            "--config",
            &config,
        ],
        &[("DASHBOARD_KEY", SECRET)],
    )
    .await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/dashboard.py");
    let mut command = tokio::process::Command::new(&python);
    command
        .arg(&script)
        .args([server.base.as_str(), TOKEN, SECRET]);
    // `DASHBOARD_SCREENSHOTS=<dir>` also saves each page's picture there
    // (docs/dashboard.md's).
    if let Ok(shots) = std::env::var("DASHBOARD_SCREENSHOTS") {
        command.arg(shots);
    }
    let output = command.kill_on_drop(true).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "ok login",
            "ok playground streams",
            "ok task list filter",
            "ok task detail attempts",
            "ok cancel running",
            "ok failed task error",
            "ok providers broken plugin",
            "ok overview counts",
            "ok phone dark",
            "ok keyboard",
            "ok no secret",
        ]
    );
    assert!(!server.log().contains(SECRET), "no secret in the log");
}
