//! Cancelling: a pending task at once, a running one through its worker.

use super::*;

pub(super) async fn cancel_of_a_pending_task_is_immediate_and_final(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let Cancel::Cancelled(read) = store.cancel(&task.id).await.unwrap() else {
        panic!("cancelled")
    };
    assert_eq!(read.status, TaskStatus::Cancelled);
    assert!(claim(&store, "w1", LEASE).await.unwrap().is_none());
    assert!(matches!(
        store.cancel(&task.id).await.unwrap(),
        Cancel::AlreadyFinished(_)
    ));
    assert_eq!(store.cancel("missing").await.unwrap(), Cancel::NotFound);
}

pub(super) async fn cancel_of_a_running_task_is_recorded_by_its_worker(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let claimed = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(
        store
            .record_cancelled(&task.id, claimed.attempt)
            .await
            .unwrap(),
        Fenced::Lost,
        "no cancel asked yet"
    );
    let Cancel::Requested(read) = store.cancel(&task.id).await.unwrap() else {
        panic!("requested")
    };
    assert_eq!(
        read.status,
        TaskStatus::Running,
        "the API never finalizes a running task"
    );
    assert_eq!(
        store
            .heartbeat(&task.id, claimed.attempt, LEASE)
            .await
            .unwrap(),
        Heartbeat::CancelRequested
    );
    let retried = store
        .retry(&task.id, claimed.attempt, &error(ErrorCode::Timeout), LEASE)
        .await
        .unwrap();
    assert_eq!(
        retried,
        Retry::CancelRequested,
        "a cancelled task is not retried"
    );
    assert_eq!(
        store
            .record_cancelled(&task.id, claimed.attempt)
            .await
            .unwrap(),
        Fenced::Applied
    );
    assert_eq!(
        store
            .complete(&task.id, claimed.attempt, &answer("late"))
            .await
            .unwrap(),
        Fenced::Lost
    );
    assert_eq!(status(&store, &task.id).await, TaskStatus::Cancelled);
}
