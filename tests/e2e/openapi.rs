//! `GET /api/openapi.json` describes every route the server answers, and
//! the error body. (CI fuzzes the API from it: see .ci/run.)

use crate::harness::Server;

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint_and_the_error_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let (status, doc) = server.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/api/v1/tasks", "post"),
        ("/api/v1/tasks", "get"),
        ("/api/v1/tasks/{task_id}", "get"),
        ("/api/v1/tasks/{task_id}/cancel", "post"),
        ("/api/v1/tasks/{task_id}/events", "get"),
        ("/api/v1/providers", "get"),
        ("/api/v1/providers/reload", "post"),
        ("/v1/chat/completions", "post"),
        ("/v1/models", "get"),
        ("/healthz", "get"),
        ("/metrics", "get"),
        ("/api/openapi.json", "get"),
    ];
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert_eq!(
        paths.len(),
        11,
        "only the routes the server has: {:?}",
        paths.keys()
    );
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert!(error["properties"]["error"].is_object(), "{error}");
    let task = &doc["components"]["schemas"]["Task"];
    for field in ["task_id", "status", "result", "error_code", "attempts"] {
        assert!(
            task["properties"][field].is_object(),
            "Task.{field}: {task}"
        );
    }
}
