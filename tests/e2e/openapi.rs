//! `GET /api/openapi.json` is the list of the server's routes (the router
//! and the document are made from the same registrations): every operation
//! it documents is served, the README's endpoint table names exactly those
//! operations, and it describes the error body and the task. (CI fuzzes the
//! API from it: see .ci/run.)

use std::collections::BTreeSet;

use serde_json::Value;

use crate::conformance::repo;
use crate::harness::Server;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `METHOD /path` of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            if METHODS.contains(&method.as_str()) {
                found.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    found
}

/// `METHOD /path` of every row of the README's REST API table (its query
/// string left out).
fn readme_operations() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let table = readme
        .split("## REST API")
        .nth(1)
        .expect("README has a REST API section");
    table
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| line.strip_prefix("| `")?.split('`').next())
        .map(|operation| operation.split('?').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_documented_operation_is_served_and_the_readme_lists_exactly_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let (status, doc) = server.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    let documented = operations(&doc);
    assert!(
        documented.contains("GET /api/openapi.json"),
        "{documented:?}"
    );

    // Served: no operation falls through to the router's answers for an
    // unknown route or method. (An unknown task is the handler's 404.)
    let client = reqwest::Client::new();
    for operation in &documented {
        let (method, path) = operation.split_once(' ').unwrap();
        let url = server.url(&path.replace("{task_id}", "no-such-task"));
        let response = client
            .request(method.parse().unwrap(), url)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        // An event stream that follows the store never ends: its status
        // and headers are the answer.
        let streams = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let body: Value = if streams {
            Value::Null
        } else {
            serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null)
        };
        let code = &body["error"]["code"];
        assert!(
            code != "not_found" && code != "method_not_allowed",
            "{operation} is documented but not served: {status} {body}"
        );
    }
    // And what is not documented is not served.
    let (status, body) = server.get_json("/api/v1/undocumented").await;
    assert_eq!((status, &body["error"]["code"]), (404, &"not_found".into()));
    let response = client
        .delete(server.url("/api/v1/tasks"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);

    assert_eq!(
        readme_operations(),
        documented,
        "README's REST API table and the OpenAPI document list other operations"
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
