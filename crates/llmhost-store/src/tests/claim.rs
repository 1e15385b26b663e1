//! Claiming: `pending` → `running` under a new attempt, oldest due first,
//! never twice.

use super::*;

pub(super) async fn claim_takes_the_oldest_task_and_increments_the_attempt(store: Store) {
    let first = new_task("echo");
    let second = new_task("echo");
    insert(&store, &first).await;
    insert(&store, &second).await;
    let claimed = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    assert_eq!(claimed.attempt, 1);
    assert_eq!(claimed.input, first.input);
    let task = store.get(&first.id).await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Running);
    assert!(task.started_at.is_some());
    assert_eq!(
        claim(&store, "w2", LEASE).await.unwrap().unwrap().id,
        second.id
    );
    assert!(claim(&store, "w3", LEASE).await.unwrap().is_none());
}

/// Concurrent claimers never get the same attempt of a task.
pub(super) async fn concurrent_claims_never_hand_out_a_task_twice(store: Store) {
    for _ in 0..40 {
        insert(&store, &new_task("echo")).await;
    }
    let claimers = (0..8).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(task) = claim(&store, &format!("w{w}"), LEASE).await.unwrap() {
                mine.push(task.id);
            }
            mine
        })
    });
    let mut all: Vec<String> = futures::future::join_all(claimers)
        .await
        .into_iter()
        .flat_map(|r| r.unwrap())
        .collect();
    assert_eq!(all.len(), 40);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 40, "no task was claimed twice");
}

/// A batch claim takes the oldest due tasks in order, at most `max`, each
/// under a new attempt, and leaves tasks that are not due alone.
pub(super) async fn a_batch_claim_takes_the_oldest_due_tasks_up_to_its_size(store: Store) {
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(insert(&store, &new_task("echo")).await.task_id);
    }
    // The oldest task fails once and waits for its retry: not due.
    let first = claim(&store, "w0", LEASE).await.unwrap().unwrap();
    let err = error(ErrorCode::Timeout);
    let retried = store
        .retry(&first.id, first.attempt, &err, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(retried, Retry::Scheduled);
    let batch = store.claim_batch("w1", LEASE, 3).await.unwrap();
    let mut claimed: Vec<&str> = batch.iter().map(|t| t.id.as_str()).collect();
    claimed.sort();
    assert_eq!(claimed, [&ids[1], &ids[2], &ids[3]], "the three oldest due");
    assert!(batch.iter().all(|t| t.attempt == 1));
    for id in &ids[1..4] {
        assert_eq!(status(&store, id).await, TaskStatus::Running);
    }
    let rest = store.claim_batch("w2", LEASE, 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, ids[4]);
    assert!(store.claim_batch("w3", LEASE, 10).await.unwrap().is_empty());
}

/// A row that cannot be read does not take its batch-mates down with it:
/// they are running under the claimer's lease, so losing them would leave
/// them to expire.
pub(super) async fn a_corrupt_row_does_not_lose_the_rest_of_its_batch(store: Store) {
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(insert(&store, &new_task("echo")).await.task_id);
    }
    unfenced_set_input(&store, &ids[1], "not json")
        .await
        .unwrap();
    let batch = store.claim_batch("w1", LEASE, 3).await.unwrap();
    let claimed: Vec<&str> = batch.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(claimed, [&ids[0], &ids[2]]);
    // Alone, it is still reported.
    let lone = insert(&store, &new_task("echo")).await.task_id;
    unfenced_set_input(&store, &lone, "not json").await.unwrap();
    let err = claim(&store, "w2", LEASE).await.expect_err("unreadable");
    assert!(err.to_string().contains(&lone), "{err}");
}
