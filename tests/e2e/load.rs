//! The embedded database under load: many concurrent writers and readers,
//! and never a `database is locked` (which would surface as a 5xx).

use crate::harness::{Server, echo};

#[tokio::test]
async fn concurrent_submissions_and_reads_on_sqlite_never_fail() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--workers", "16"]).await;
    let clients = (0..16).map(|client| {
        let server = &server;
        async move {
            let mut ids = Vec::new();
            for n in 0..25 {
                let prompt = format!("client {client} task {n}");
                ids.push((prompt.clone(), server.submit(&echo(&prompt)).await));
                // Reads interleaved with writes, as polling clients do.
                let (status, _) = server.get_json("/api/v1/tasks?limit=20").await;
                assert_eq!(status, 200);
            }
            ids
        }
    });
    let submitted: Vec<_> = futures::future::join_all(clients)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(submitted.len(), 400);
    for (prompt, id) in &submitted {
        let task = server.wait_until_finished(id).await;
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(&task["result"]["text"], prompt);
    }
    assert!(
        !server.log().contains("database is locked"),
        "{}",
        server.log()
    );
}
