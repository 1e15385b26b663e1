//! Readiness: the probe commits a real write, again and again, and a store
//! that cannot commit within the deadline answers a timeout, an outage.

use super::*;

pub(super) async fn a_probe_commits_its_one_row_each_time(store: Store) {
    for _ in 0..3 {
        store.probe_commit(Duration::from_secs(5)).await.unwrap();
    }
    assert_eq!(probe_rows(&store).await.unwrap(), 1);
}

async fn probe_rows(store: &Store) -> Result<i64> {
    let (rows,): (i64,) = on_reader!(store.backend(), |pool| {
        sqlx::query_as("SELECT COUNT(*) FROM store_probe")
            .fetch_one(pool)
            .await?
    });
    Ok(rows)
}
