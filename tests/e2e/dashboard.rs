//! The dashboard at `/ui`, served by the real binary: its assets without a
//! token and with their security headers, and, in headless Chromium
//! (Playwright for Python driving Debian's `chromium`; `dashboard.py`),
//! every scenario of issue 16: log in, a playground task streams, found by
//! filter, its detail and every target its attempt tried, a running task
//! cancelled live, a failed task's error, a broken plugin on the providers
//! page, each instance's limits, egress and warnings, the conformance
//! button's report, a tenant key's limits and usage, time to first token on
//! the overview and its count moving live, the routes page with each
//! target's health, the playground over a route, the task list filtered
//! by route, a tool-calling model, a running task's text growing on its page, resubmitting a failed
//! task, and no secret value (nor a tenant's key) in any page or
//! asset. Without a browser: the switch that turns the dashboard off, and
//! the conformance endpoint against a configured instance with a secret.

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
async fn with_the_dashboard_off_neither_ui_nor_the_root_answers_and_the_api_still_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--ui", "false"]).await;
    for path in ["/", "/ui", "/ui/app.js", "/ui/index.html"] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        // Not sent on to /ui: the root is not a redirect either.
        assert_eq!(response.url().path(), path);
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    let (status, _) = server.get_json("/api/v1/overview").await;
    assert_eq!(status, 200);
    // On by default, and `--ui true` is the same.
    let dir = tempfile::tempdir().unwrap();
    let on = Server::start(dir.path(), &["--ui", "true"]).await;
    let page = on.http.get(on.url("/ui")).send().await.unwrap();
    assert_eq!(page.status(), 200);
}

/// The conformance endpoint runs the suite against what is loaded: a
/// configured instance (its manifest from the configuration file, with a
/// secret) is checked hermetically, its report names every case, and
/// neither the report nor the log holds the secret's value.
#[tokio::test]
async fn conformance_runs_against_a_loaded_instance_without_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path());
    let config = config(dir.path());
    let server = Server::start_with_env(
        dir.path(),
        &["--plugins-dir", &plugins, "--config", &config],
        &[("DASHBOARD_KEY", SECRET)],
    )
    .await;
    let post = |path: String| server.http.post(server.url(&path)).send();
    let response = post("/api/v1/providers/vendor/conformance".into())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains(SECRET), "the secret is in the report");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["name"], "openai", "{report}");
    let cases = report["cases"].as_array().unwrap();
    let counted = ["passed", "failed", "not_applicable"]
        .iter()
        .map(|k| report[k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(counted as usize, cases.len(), "{report}");
    assert!(cases.len() > 5, "{report}");
    // Its metadata is checked like a file's; the HTTP cases need the
    // vendor's answers (a plugin's own cases, which the built-in suite does
    // not have), and each that cannot run says so.
    assert_eq!(cases[0]["status"], "pass", "{report:#}");
    for case in cases.iter().filter(|c| c["status"] == "fail") {
        let why = case["problems"][0].as_str().unwrap_or_default();
        assert!(!why.is_empty(), "a failure says why: {case}");
    }
    assert!(report.get("sha256").is_none(), "{report}");
    let unknown = post("/api/v1/providers/nope/conformance".into())
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["code"], "provider_not_found", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("vendor"),
        "{body}"
    );
    // The listing shows the instance's limits and egress, secret headers by
    // name only.
    let (status, listing) = server.get_json("/api/v1/providers").await;
    assert_eq!(status, 200);
    let vendor = listing["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "vendor")
        .unwrap();
    assert_eq!(vendor["egress"]["allow"][0], "http://127.0.0.1:9");
    assert_eq!(
        vendor["egress"]["secret_headers"][0],
        serde_json::json!({"origin": "http://127.0.0.1:9", "header": "authorization"})
    );
    assert_eq!(vendor["limits"]["memory_bytes"], 64 << 20);
    assert!(!listing.to_string().contains(SECRET));
    assert!(
        !listing.to_string().contains("DASHBOARD_KEY"),
        "no template either"
    );
    assert!(!server.log().contains(SECRET), "no secret in the log");
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
    // The scenario that failed and Python's traceback come last: CI shows
    // the end of a failure's output.
    assert!(
        output.status.success(),
        "server log:\n{}\ndashboard.py failed after these scenarios:\n{stdout}\n{}",
        server.log(),
        String::from_utf8_lossy(&output.stderr)
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
            "ok providers limits egress warnings",
            "ok conformance button",
            "ok keys and usage",
            "ok overview counts",
            "ok overview live",
            "ok routes page",
            "ok playground route, task list by route, tool call",
            "ok task detail live text",
            "ok resubmit",
            "ok phone dark",
            "ok keyboard",
            "ok no secret",
        ]
    );
    assert!(!server.log().contains(SECRET), "no secret in the log");
}
