//! Finding 4: a secret cannot come back. An upstream reflects the header the
//! host added (as it is, URL-encoded, base64-encoded, upper-cased,
//! percent-encoded in lower case); a plugin returns
//! what it got as completion text, as an error message, as a log line and
//! as a panic message (which the host reads from the plugin's stderr).
//! The secret appears in no task, API answer, provider listing, log line
//! or database file (the WAL included); `[redacted]` stands in its place.

use serde_json::json;

use super::plugins_dir;
use crate::harness::Server;
use crate::test_plugin;
use crate::upstream::Upstream;

#[tokio::test]
async fn a_reflected_secret_is_redacted_from_everything_the_host_keeps_or_shows() {
    let upstream = Upstream::start().await;
    let secret = format!("sk-reflect-{}-Zq9", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "[egress]\nallow = [\"{o}\"]\n\n[[secret]]\norigin = \"{o}\"\nheader = \"authorization\"\nvalue = \"Bearer ${{LLMHOST_TEST_SECRET}}\"\n",
        o = upstream.origin()
    );
    let plugins = plugins_dir(
        dir.path(),
        &[
            (test_plugin::EGRESS, Some(manifest.clone())),
            (test_plugin::HOSTILE, Some(manifest.clone())),
        ],
    );
    // A copy whose metadata() asks the reflecting upstream for its
    // description: metadata runs with no network, so it learns nothing.
    std::fs::copy(
        plugins.join("hostile.wasm"),
        plugins.join("hostile-meta.wasm"),
    )
    .unwrap();
    let config = format!(
        "\n[config]\nname = \"hostile-meta\"\nmetadata = \"reflect:{}\"\n",
        upstream.url("/reflect")
    );
    std::fs::write(
        plugins.join("hostile-meta.toml"),
        manifest.clone() + &config,
    )
    .unwrap();
    let args = ["--plugins-dir", plugins.to_str().unwrap()];
    let env = [("LLMHOST_TEST_SECRET", secret.as_str())];
    let server = Server::start_with_env(dir.path(), &args, &env).await;
    let reflect = upstream.url("/reflect");

    let text = json!({"provider": "egress", "model": "m", "prompt": reflect, "max_attempts": 1});
    let id = server.submit(&text).await;
    let done = server.wait_until_finished(&id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let answer = done["result"]["text"].as_str().unwrap();
    assert_eq!(answer.matches("[redacted]").count(), 5, "{answer}");

    let error = json!({"provider": "hostile", "model": "m", "prompt": format!("reflect:{reflect}"), "max_attempts": 1});
    let failed = server
        .wait_until_finished(&server.submit(&error).await)
        .await;
    assert_eq!(failed["error_code"], "invalid_request", "{failed}");
    assert!(
        failed["error_message"]
            .as_str()
            .unwrap()
            .contains("[redacted]"),
        "{failed}"
    );

    // A panic's message is the plugin's text too: it becomes the trap's
    // error message, with the secret taken out.
    let panic = json!({"provider": "hostile", "model": "m", "prompt": format!("reflect-panic:{reflect}"), "max_attempts": 1});
    let trapped = server
        .wait_until_finished(&server.submit(&panic).await)
        .await;
    assert_eq!(trapped["error_code"], "plugin_trap", "{trapped}");
    let message = trapped["error_message"].as_str().unwrap();
    assert!(
        message.starts_with("the provider panicked: upstream said: you sent [redacted]"),
        "{trapped}"
    );
    assert_eq!(message.matches("[redacted]").count(), 5, "{trapped}");

    let chat = json!({"model": "egress/m", "messages": [{"role": "user", "content": reflect}]});
    let url = server.url("/v1/chat/completions");
    let sync = server
        .http
        .post(url)
        .json(&chat)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sync.contains("[redacted]"), "{sync}");
    let streamed = json!({"model": "egress/m", "stream": true, "messages": [{"role": "user", "content": reflect}]});
    let url = server.url("/v1/chat/completions");
    let stream = server
        .http
        .post(url)
        .json(&streamed)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let (_, listing) = server.get_json("/api/v1/providers").await;
    let meta = listing["providers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(listing["refused"].as_array().unwrap())
        .find(|p| p["name"] == "hostile-meta")
        .unwrap_or_else(|| panic!("hostile-meta is listed: {listing}"));
    assert!(
        !meta.to_string().contains("upstream said"),
        "metadata() reached the upstream: {meta}"
    );
    let tasks = server.all_tasks().await;
    let log = server.log();
    assert_eq!(
        upstream.seen.authorizations().len(),
        5,
        "every call reached the upstream, metadata() none"
    );
    server.terminate().await;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    assert!(files.iter().any(|(p, _)| p.ends_with("llmhost.db")));
    let forms = [
        secret.clone(),
        secret.to_uppercase(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
    ];
    for form in &forms {
        for (what, text) in [
            ("sync answer", sync.as_str()),
            ("streamed answer", stream.as_str()),
            ("provider listing", &listing.to_string()),
            ("tasks", &serde_json::to_string(&tasks).unwrap()),
            ("log", log.as_str()),
        ] {
            assert!(
                !text.contains(form.as_str()),
                "{what} holds the secret: {text}"
            );
        }
        for (path, bytes) in &files {
            assert!(
                !String::from_utf8_lossy(bytes).contains(form.as_str()),
                "{path} holds the secret"
            );
        }
    }
}

#[tokio::test]
async fn a_secret_pinned_to_a_path_prefix_reaches_no_other_path_of_its_origin() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "[egress]\nallow = [\"{o}\"]\n\n[[secret]]\norigin = \"{o}\"\nheader = \"authorization\"\nvalue = \"Bearer sk-pinned-secret\"\npaths = [\"/ok\"]\n",
        o = upstream.origin()
    );
    let plugins = plugins_dir(dir.path(), &[(test_plugin::EGRESS, Some(manifest))]);
    let args = ["--plugins-dir", plugins.to_str().unwrap()];
    let server = Server::start(dir.path(), &args).await;
    let paths = [
        "/ok",
        "/reflect",
        "/ok/../reflect",
        "/ok/%2e%2e/reflect",
        "/okay",
    ];
    for path in paths {
        let body = json!({"provider": "egress", "model": "m", "prompt": upstream.url(path), "max_attempts": 1});
        let task = server
            .wait_until_finished(&server.submit(&body).await)
            .await;
        let text = task["result"]["text"].as_str().unwrap_or_default();
        assert!(!text.contains("sk-pinned"), "{path}: {task}");
    }
    let bearer = Some("Bearer sk-pinned-secret".to_owned());
    assert_eq!(
        upstream.seen.authorizations(),
        [bearer, None, None, None, None],
        "only {paths:?}[0] got the secret"
    );
}
