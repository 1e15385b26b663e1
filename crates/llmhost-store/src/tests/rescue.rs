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

/// The attempt a stopped worker never finished is in the task's log, as
/// `interrupted` with `lease_expired` and its start and duration; the next
/// attempt's entries follow it. Over a route, which target was in flight
/// is not known: the entry names none, and the usage ledger attributes the
/// attempt to the route as before.
pub(super) async fn rescue_ends_the_attempt_log_with_the_interrupted_attempt(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let claimed = claim_and_expire(&store).await;
    let before = chrono::Utc::now();
    store.rescue_expired(now_ms()).await.unwrap();
    let read = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(read.status, TaskStatus::Pending);
    let [entry] = read.attempt_log.as_slice() else {
        panic!("one entry: {:?}", read.attempt_log);
    };
    assert_eq!(entry.attempt, claimed.attempt);
    assert_eq!(entry.target, format!("echo/{}", task.model));
    assert_eq!(entry.outcome, AttemptOutcome::Interrupted);
    assert_eq!(entry.error_code.as_deref(), Some("lease_expired"));
    assert_eq!(entry.first_token_ms, None);
    // Claimed at most a few ms (plus the 5 ms wait) before the rescue.
    assert!((5..10_000).contains(&entry.duration_ms), "{entry:?}");
    let started = read.started_at.expect("it was started");
    assert!(
        (entry.started_at - started).num_milliseconds().abs() <= 1,
        "{entry:?} vs {started}"
    );
    assert!(entry.started_at <= before, "{entry:?}");

    // The next claim carries it, and its own outcome's log keeps it first.
    let again = claim(&store, "w2", LEASE).await.unwrap().unwrap();
    assert_eq!(again.attempt_log, read.attempt_log);
    let mine = AttemptRecord {
        attempt: again.attempt,
        target: entry.target.clone(),
        outcome: AttemptOutcome::Completed,
        error_code: None,
        duration_ms: 1,
        first_token_ms: Some(1),
        started_at: chrono::Utc::now(),
    };
    let log = [entry.clone(), mine.clone()];
    assert_eq!(
        store
            .complete_logged(&task.id, again.attempt, &answer("after"), &log)
            .await
            .unwrap(),
        Fenced::Applied
    );
    let done = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(done.attempt_log, log);

    // A routed task's interrupted attempt names no target.
    let mut routed = new_task("smart");
    routed.route = Some("smart".into());
    routed.max_attempts = 1;
    insert(&store, &routed).await;
    claim_and_expire(&store).await;
    store.rescue_expired(now_ms()).await.unwrap();
    let read = store.get(&routed.id).await.unwrap().unwrap();
    assert_eq!(read.status, TaskStatus::Failed);
    let [entry] = read.attempt_log.as_slice() else {
        panic!("one entry: {:?}", read.attempt_log);
    };
    assert_eq!(
        (entry.target.as_str(), entry.outcome),
        ("", AttemptOutcome::Interrupted)
    );
}

/// A routed attempt's failed targets are written as it goes, fenced by its
/// attempt: a worker killed further down the route leaves them before the
/// rescuer's `interrupted` entry, and once the task was taken from it, it
/// writes nothing.
pub(super) async fn a_routed_attempts_tried_targets_outlive_its_worker(store: Store) {
    let mut routed = new_task("smart");
    routed.route = Some("smart".into());
    routed.max_attempts = 2;
    insert(&store, &routed).await;
    let claimed = claim_and_expire(&store).await;
    let failed = AttemptRecord {
        attempt: claimed.attempt,
        target: "a/x".into(),
        outcome: AttemptOutcome::Failed,
        error_code: Some("rate_limited".into()),
        duration_ms: 3,
        first_token_ms: None,
        started_at: chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(),
    };
    assert_eq!(
        store
            .log_progress(&routed.id, claimed.attempt, std::slice::from_ref(&failed))
            .await
            .unwrap(),
        Fenced::Applied
    );
    let running = store.get(&routed.id).await.unwrap().unwrap();
    assert_eq!(running.status, TaskStatus::Running);
    assert_eq!(
        running.attempt_log,
        std::slice::from_ref(&failed),
        "read while it runs"
    );

    store.rescue_expired(now_ms()).await.unwrap();
    let read = store.get(&routed.id).await.unwrap().unwrap();
    assert_eq!(read.status, TaskStatus::Pending);
    let [first, interrupted] = read.attempt_log.as_slice() else {
        panic!("two entries: {:?}", read.attempt_log);
    };
    assert_eq!(first, &failed);
    assert_eq!(
        (
            interrupted.attempt,
            interrupted.target.as_str(),
            interrupted.outcome
        ),
        (claimed.attempt, "", AttemptOutcome::Interrupted)
    );

    // The worker that lost the task adds nothing to its log.
    let later = AttemptRecord {
        target: "b/y".into(),
        ..failed.clone()
    };
    assert_eq!(
        store
            .log_progress(&routed.id, claimed.attempt, &[failed, later])
            .await
            .unwrap(),
        Fenced::Lost
    );
    let again = claim(&store, "w2", LEASE).await.unwrap().unwrap();
    assert_eq!(again.attempt_log, read.attempt_log);
}

/// A worker shutting down hands its attempt back with the same entry, with
/// no error code: nothing failed, the attempt was given up.
pub(super) async fn a_released_attempt_ends_the_log_as_interrupted(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let claimed = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(
        store.release(&task.id, claimed.attempt).await.unwrap(),
        Fenced::Applied
    );
    let read = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(read.status, TaskStatus::Pending);
    let [entry] = read.attempt_log.as_slice() else {
        panic!("one entry: {:?}", read.attempt_log);
    };
    assert_eq!(
        (
            entry.attempt,
            entry.target.as_str(),
            entry.outcome,
            entry.error_code.as_deref()
        ),
        (
            claimed.attempt,
            format!("echo/{}", task.model).as_str(),
            AttemptOutcome::Interrupted,
            None
        )
    );
}
