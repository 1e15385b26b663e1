//! Finding 7: a delay a plugin passes on from its upstream is a wish the
//! host bounds. `retry-after: 18446744073709551615` neither overflows the
//! task's `run_at` (retried at once) nor parks the task forever: the retry
//! is due exactly `--retry-delay-max-ms` after the failure.

use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

use crate::mock_vendors::{MockVendor, Vendor};
use crate::providers;

/// `(run_at, updated_at)` of a task, in ms, read from the server's database.
async fn schedule(data_dir: &Path, id: &str) -> (i64, i64) {
    let options = SqliteConnectOptions::new()
        .filename(data_dir.join("llmhost.db"))
        .read_only(true);
    let pool = SqlitePool::connect_with(options).await.unwrap();
    let row: (i64, i64) = sqlx::query_as("SELECT run_at, updated_at FROM tasks WHERE id = ?")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    row
}

#[tokio::test]
async fn an_endless_retry_after_is_retried_after_the_configured_maximum() {
    let mock = MockVendor::start(Vendor::OpenAi).await;
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--retry-delay-max-ms", "4000"];
    let server = providers::serve_with(dir.path(), Vendor::OpenAi, &mock, "sk-x", &flags).await;
    let body = providers::task(Vendor::OpenAi, "rate-limited-forever", 2);
    let id = server.submit(&body).await;

    let waiting = server
        .wait_for(&id, "waiting for its retry", |t| {
            t["status"] == "pending" && t["attempts"] == 1
        })
        .await;
    assert_eq!(waiting["error_code"], "rate_limited", "{waiting}");
    let (run_at, failed_at) = schedule(dir.path(), &id).await;
    assert_eq!(
        run_at - failed_at,
        4_000,
        "the retry is due the maximum after the failure, not at {run_at}"
    );

    let done = server.wait_until_finished(&id).await;
    assert_eq!(done["attempts"], 2, "the retry did happen: {done}");
    assert_eq!(done["error_code"], "rate_limited", "{done}");
    assert_eq!(mock.requests().len(), 2);
}
