//! Inserting: a new task becomes `pending`, once per idempotency key, and
//! wakes the workers.

use super::*;

pub(super) async fn insert_commits_a_pending_task_that_get_returns(store: Store) {
    let task = new_task("echo");
    let stored = insert(&store, &task).await;
    assert_eq!(stored.status, TaskStatus::Pending);
    assert_eq!(stored.attempts, 0);
    let read = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(read, stored);
    assert_eq!(read.input, task.input);
    assert_eq!(read.metadata, task.metadata);
    assert!(store.get("no-such-task").await.unwrap().is_none());
}

pub(super) async fn a_submission_wakes_a_waiting_worker(store: Store) {
    let woken = store.work_signal().notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    insert(&store, &new_task("echo")).await;
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("woken by the insert");
}

pub(super) async fn an_idempotency_key_stores_one_task_per_request(store: Store) {
    let mut task = new_task("echo");
    task.idempotency = Some(Idempotency {
        key: "order-1".into(),
        request_hash: "h1".into(),
    });
    let first = insert(&store, &task).await;
    let mut again = new_task("echo");
    again.idempotency = task.idempotency.clone();
    assert_eq!(
        store.insert(&again).await.unwrap(),
        Inserted::Existing(first.clone())
    );
    again.idempotency = Some(Idempotency {
        key: "order-1".into(),
        request_hash: "h2".into(),
    });
    assert_eq!(
        store.insert(&again).await.unwrap(),
        Inserted::KeyConflict(first.clone())
    );
    assert!(
        store.get(&again.id).await.unwrap().is_none(),
        "nothing new was stored"
    );
}

pub(super) async fn concurrent_submissions_with_one_key_create_exactly_one_task(store: Store) {
    let submissions = (0..50).map(|_| {
        let store = store.clone();
        let mut task = new_task("echo");
        task.idempotency = Some(Idempotency {
            key: "same".into(),
            request_hash: "h".into(),
        });
        tokio::spawn(async move { store.insert(&task).await.unwrap() })
    });
    let outcomes: Vec<Inserted> = futures::future::join_all(submissions)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let created: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o, Inserted::Created(_)))
        .collect();
    assert_eq!(created.len(), 1, "exactly one task is created");
    let Inserted::Created(task) = created[0] else {
        unreachable!()
    };
    for outcome in &outcomes {
        match outcome {
            Inserted::Created(t) | Inserted::Existing(t) => assert_eq!(t.task_id, task.task_id),
            Inserted::KeyConflict(_) => panic!("same request, no conflict"),
        }
    }
    let page = store
        .list(&ListQuery {
            limit: 100,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.tasks.len(), 1);
}
