//! Bearer tokens: with a token configured, every endpoint but /healthz
//! refuses requests without a valid one (401, our error body), and accepts
//! any of the configured tokens.

use serde_json::Value;

use crate::harness::{Server, echo};

const TOKEN: &str = "first-token-0123456789";
const OTHER_TOKEN: &str = "second-token-0123456789";

async fn send(server: &Server, path: &str, token: Option<&str>) -> (u16, Value, Option<String>) {
    let mut request = server.http.get(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("GET");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, challenge)
}

#[tokio::test]
async fn with_auth_on_requests_without_a_valid_token_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--auth-token", TOKEN, "--auth-token", OTHER_TOKEN];
    let server = Server::start(dir.path(), &args).await;
    let paths = [
        "/api/v1/tasks",
        "/api/v1/tasks/some-id",
        "/api/v1/providers",
        "/metrics",
        "/api/openapi.json",
        "/no/such/route",
    ];
    for path in paths {
        for token in [None, Some("wrong-token-0123456789"), Some("")] {
            let (status, body, challenge) = send(&server, path, token).await;
            assert_eq!(status, 401, "{path} with {token:?}: {body}");
            assert_eq!(body["error"]["code"], "unauthorized", "{path}: {body}");
            assert_eq!(challenge.as_deref(), Some("Bearer"));
        }
    }
    let refused = server
        .http
        .post(server.url("/api/v1/tasks"))
        .json(&echo("sneaky"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);

    for token in [TOKEN, OTHER_TOKEN] {
        let (status, body, _) = send(&server, "/api/v1/providers", Some(token)).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body, _) = send(&server, "/healthz", None).await;
    assert_eq!((status, &body["status"]), (200, &Value::from("ok")));

    // Nothing was stored by the refused submission.
    let page: Value = server
        .http
        .get(server.url("/api/v1/tasks"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["tasks"].as_array().unwrap().len(), 0, "{page}");
    assert!(!server.log().contains(TOKEN), "a token reached the log");
}

#[tokio::test]
async fn the_submit_client_sends_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--auth-token", TOKEN]).await;
    let args = [
        "submit",
        "--server",
        &server.base,
        "--provider",
        "echo",
        "--model",
        "echo",
        "--prompt",
        "hi there",
        "--wait",
    ];
    let out = crate::harness::run_llmhost(&args, &[("LLMHOST_TOKEN", TOKEN)]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hi there");

    let out = crate::harness::run_llmhost(&args, &[]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}
