//! Rescuing expired leases: back to `pending`, or to `failed` or `cancelled`,
//! never a live lease or a finished task.

use super::*;

pub(super) async fn rescue_fails_an_expired_task_whose_attempts_are_used_up(store: Store) {
    let mut task = new_task("echo");
    task.max_attempts = 1;
    insert(&store, &task).await;
    claim_and_expire(&store).await;
    let rescued = store.rescue_expired(now_ms()).await.unwrap();
    assert_eq!(
        rescued,
        Rescued {
            requeued: 0,
            failed: 1,
            cancelled: 0,
        }
    );
    let read = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(read.status, TaskStatus::Failed);
    assert_eq!(read.error_code.as_deref(), Some("lease_expired"));
}

/// A running task whose cancel was requested and whose worker stopped is
/// cancelled by the rescuer, whatever attempts it has left.
pub(super) async fn rescue_cancels_an_expired_task_whose_cancel_was_requested(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let claimed = claim_and_expire(&store).await;
    assert!(matches!(
        store.cancel(&task.id).await.unwrap(),
        Cancel::Requested(_)
    ));
    assert_eq!(
        store.rescue_expired(now_ms()).await.unwrap(),
        Rescued {
            requeued: 0,
            failed: 0,
            cancelled: 1,
        }
    );
    let read = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(read.status, TaskStatus::Cancelled);
    assert_eq!(read.error_code.as_deref(), Some("cancelled"));
    assert!(read.completed_at.is_some());
    assert_eq!(
        store
            .record_cancelled(&task.id, claimed.attempt)
            .await
            .unwrap(),
        Fenced::Lost,
        "the worker that stopped lost the task"
    );
}

pub(super) async fn rescue_racing_a_completion_leaves_it_completed(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let claimed = claim_and_expire(&store).await;
    assert_eq!(
        store
            .complete(&task.id, claimed.attempt, &answer("won"))
            .await
            .unwrap(),
        Fenced::Applied
    );
    assert_eq!(
        store.rescue_expired(now_ms()).await.unwrap(),
        Rescued::default()
    );
    assert_eq!(status(&store, &task.id).await, TaskStatus::Completed);
}

pub(super) async fn rescue_leaves_live_leases_alone(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let claimed = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(
        store.rescue_expired(now_ms()).await.unwrap(),
        Rescued::default()
    );
    assert_eq!(
        store
            .heartbeat(&task.id, claimed.attempt, LEASE)
            .await
            .unwrap(),
        Heartbeat::Extended
    );
    assert_eq!(status(&store, &task.id).await, TaskStatus::Running);
}
