//! A worker's ends of a running attempt (completed, failed, back to pending),
//! fenced by its attempt, and terminal states that never change.

use super::*;

pub(super) async fn complete_is_written_once_and_a_terminal_status_never_changes(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let claimed = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(
        store
            .complete(&task.id, claimed.attempt, &answer("a"))
            .await
            .unwrap(),
        Fenced::Applied
    );
    assert_eq!(
        store
            .complete(&task.id, claimed.attempt, &answer("b"))
            .await
            .unwrap(),
        Fenced::Lost
    );
    let failed = store
        .fail(&task.id, claimed.attempt, &error(ErrorCode::UpstreamError))
        .await
        .unwrap();
    assert_eq!(failed, Fenced::Lost);
    assert_eq!(
        store.release(&task.id, claimed.attempt).await.unwrap(),
        Fenced::Lost
    );
    let read = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(read.status, TaskStatus::Completed);
    assert_eq!(read.result.unwrap().text, "a");
    assert!(read.error_code.is_none());
    assert!(read.completed_at.is_some());
}

/// The original system's bug: one writer committed FAILED, another
/// COMPLETED, and the API read the wrong one. Here both race for one attempt;
/// exactly one wins and every read after returns the winner's status.
pub(super) async fn two_writers_racing_for_a_terminal_status_have_exactly_one_winner(store: Store) {
    for round in 0..20 {
        let task = new_task("echo");
        insert(&store, &task).await;
        let claimed = claim(&store, "w1", LEASE).await.unwrap().unwrap();
        let (done, err) = (answer("done"), error(ErrorCode::UpstreamError));
        let (completed, failed) = tokio::join!(
            store.complete(&task.id, claimed.attempt, &done),
            store.fail(&task.id, claimed.attempt, &err),
        );
        let (completed, failed) = (completed.unwrap(), failed.unwrap());
        assert_ne!(completed, failed, "round {round}: exactly one writer wins");
        let winner = if completed == Fenced::Applied {
            TaskStatus::Completed
        } else {
            TaskStatus::Failed
        };
        for _ in 0..3 {
            assert_eq!(status(&store, &task.id).await, winner, "round {round}");
        }
    }
}

pub(super) async fn a_write_with_a_stale_attempt_is_refused_after_a_takeover(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let first = claim_and_expire(&store).await;
    let rescued = store.rescue_expired(now_ms()).await.unwrap();
    assert_eq!(
        rescued,
        Rescued {
            requeued: 1,
            failed: 0,
            cancelled: 0,
        }
    );
    let second = claim(&store, "w2", LEASE).await.unwrap().unwrap();
    assert_eq!(second.attempt, 2);
    assert_eq!(
        store
            .heartbeat(&task.id, first.attempt, LEASE)
            .await
            .unwrap(),
        Heartbeat::Lost
    );
    assert_eq!(
        store
            .complete(&task.id, first.attempt, &answer("late"))
            .await
            .unwrap(),
        Fenced::Lost
    );
    assert_eq!(
        store
            .fail(&task.id, first.attempt, &error(ErrorCode::Timeout))
            .await
            .unwrap(),
        Fenced::Lost
    );
    assert_eq!(
        store
            .complete(&task.id, second.attempt, &answer("second"))
            .await
            .unwrap(),
        Fenced::Applied
    );
    let read = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(read.result.unwrap().text, "second");
    assert_eq!(read.attempts, 2);
}

pub(super) async fn retry_returns_the_task_to_pending_until_it_is_due(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let claimed = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    let err = error(ErrorCode::RateLimited);
    let delay = Duration::from_millis(300);
    assert_eq!(
        store
            .retry(&task.id, claimed.attempt, &err, delay)
            .await
            .unwrap(),
        Retry::Scheduled
    );
    let read = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(read.status, TaskStatus::Pending);
    assert_eq!(
        read.error_code.as_deref(),
        Some("rate_limited"),
        "the last error stays visible"
    );
    // The retry wrote `updated_at` and the due time from one clock reading.
    assert_eq!(
        read.next_attempt_at,
        Some(read.updated_at + delay),
        "a waiting task says when it goes on"
    );
    assert!(
        claim(&store, "w1", LEASE).await.unwrap().is_none(),
        "not claimable before it is due"
    );
    let due = store
        .next_due_in()
        .await
        .unwrap()
        .expect("a task is waiting");
    assert!(due <= delay);
    tokio::time::sleep(due + Duration::from_millis(20)).await;
    let again = claim(&store, "w1", LEASE).await.unwrap().expect("due now");
    assert_eq!(again.attempt, 2);
    let running = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(running.next_attempt_at, None, "only a pending task has one");
    // Attempts are used up (max 2): a retry is refused and the caller fails it.
    assert_eq!(
        store
            .retry(&task.id, again.attempt, &err, delay)
            .await
            .unwrap(),
        Retry::AttemptsUsedUp
    );
    assert_eq!(
        store.fail(&task.id, again.attempt, &err).await.unwrap(),
        Fenced::Applied
    );
    assert_eq!(status(&store, &task.id).await, TaskStatus::Failed);
}

/// A retry the store refuses writes nothing and names why, so that the
/// worker records the right end: the cancel a client asked for, the
/// failure of a last attempt, or nothing at all for a task it lost.
pub(super) async fn a_refused_retry_says_why_and_writes_nothing(store: Store) {
    let err = error(ErrorCode::RateLimited);
    let retry = |id: String, attempt| {
        let (store, err) = (store.clone(), err.clone());
        async move { store.retry(&id, attempt, &err, LEASE).await.unwrap() }
    };

    let cancelled = new_task("echo");
    insert(&store, &cancelled).await;
    let running = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    assert!(matches!(
        store.cancel(&cancelled.id).await.unwrap(),
        Cancel::Requested(_)
    ));
    assert_eq!(
        retry(cancelled.id.clone(), running.attempt).await,
        Retry::CancelRequested
    );
    let read = store.get(&cancelled.id).await.unwrap().unwrap();
    assert_eq!(read.status, TaskStatus::Running);
    assert!(read.error_code.is_none(), "nothing was written");

    let last = NewTask {
        max_attempts: 1,
        ..new_task("echo")
    };
    insert(&store, &last).await;
    let running = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(
        retry(last.id.clone(), running.attempt).await,
        Retry::AttemptsUsedUp
    );
    assert_eq!(status(&store, &last.id).await, TaskStatus::Running);

    let taken_over = new_task("echo");
    insert(&store, &taken_over).await;
    let stale = claim_and_expire(&store).await;
    store.rescue_expired(now_ms()).await.unwrap();
    let current = claim(&store, "w2", LEASE).await.unwrap().unwrap();
    assert_eq!(current.id, taken_over.id);
    assert_eq!(
        retry(taken_over.id.clone(), stale.attempt).await,
        Retry::Lost
    );
    assert_eq!(
        retry("no-such-task".into(), 1).await,
        Retry::Lost,
        "a task that is not there is not ours"
    );
    let read = store.get(&taken_over.id).await.unwrap().unwrap();
    assert_eq!((read.status, read.attempts), (TaskStatus::Running, 2));
}

/// Even a writer that bypasses the store's fencing cannot rewrite a
/// terminal status: the database itself refuses.
pub(super) async fn the_database_itself_refuses_to_change_a_terminal_status(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let claimed = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    let _ = store
        .complete(&task.id, claimed.attempt, &answer("done"))
        .await
        .unwrap();
    for status in ["failed", "pending", "running", "cancelled"] {
        let err = unfenced_set_status(&store, &task.id, status)
            .await
            .expect_err("the trigger refuses");
        assert!(
            err.to_string().contains("terminal status cannot change"),
            "{err}"
        );
    }
    let read = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(read.status, TaskStatus::Completed);
    assert_eq!(read.result.unwrap().text, "done");
}

fn tried(attempt: u32, target: &str, error: Option<ErrorCode>) -> AttemptRecord {
    AttemptRecord {
        attempt,
        target: target.into(),
        outcome: if error.is_some() {
            AttemptOutcome::Failed
        } else {
            AttemptOutcome::Completed
        },
        error_code: error.map(|c| c.as_str().to_owned()),
        duration_ms: 7,
        first_token_ms: error.is_none().then_some(3),
        started_at: chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(),
    }
}

/// A task over a route keeps its alias, and each outcome's write stores the
/// attempt log with it, fenced like the outcome: a retry's log comes back
/// with the next claim, a lost writer's log is not written, and a write
/// with no log keeps the one stored.
pub(super) async fn the_attempt_log_is_written_with_each_outcome_and_fenced_like_it(store: Store) {
    let task = NewTask {
        provider: "smart".into(),
        model: "smart".into(),
        route: Some("smart".into()),
        max_attempts: 3,
        ..new_task("smart")
    };
    let stored = insert(&store, &task).await;
    assert_eq!(stored.route.as_deref(), Some("smart"));
    assert!(stored.attempt_log.is_empty());

    let first = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(first.route.as_deref(), Some("smart"));
    let walk = vec![
        tried(1, "a/x", Some(ErrorCode::RateLimited)),
        tried(1, "b/y", Some(ErrorCode::UpstreamUnavailable)),
    ];
    let retried = store
        .retry_logged(
            &task.id,
            first.attempt,
            &error(ErrorCode::UpstreamUnavailable),
            Duration::ZERO,
            &walk,
        )
        .await
        .unwrap();
    assert_eq!(retried, Retry::Scheduled);
    assert_eq!(
        store.get(&task.id).await.unwrap().unwrap().attempt_log,
        walk
    );

    let second = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(second.attempt_log, walk, "the claim hands the log on");
    let mut log = walk.clone();
    log.push(tried(2, "a/x", None));
    // A stale writer writes neither its outcome nor its log.
    let stale = store
        .fail_logged(&task.id, first.attempt, &error(ErrorCode::Timeout), &log)
        .await
        .unwrap();
    assert_eq!(stale, Fenced::Lost);
    assert_eq!(
        store.get(&task.id).await.unwrap().unwrap().attempt_log,
        walk
    );

    let done = store
        .complete_logged(&task.id, second.attempt, &answer("a"), &log)
        .await
        .unwrap();
    assert_eq!(done, Fenced::Applied);
    let read = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(read.status, TaskStatus::Completed);
    assert_eq!(read.attempt_log, log);

    // Without a log, an outcome keeps the stored one (the rescuer's, a
    // release's, and the plain forms).
    let other = new_task("echo");
    insert(&store, &other).await;
    let running = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    let once = vec![tried(
        running.attempt,
        "echo/echo",
        Some(ErrorCode::Timeout),
    )];
    let retried = store
        .retry_logged(
            &other.id,
            running.attempt,
            &error(ErrorCode::Timeout),
            Duration::ZERO,
            &once,
        )
        .await
        .unwrap();
    assert_eq!(retried, Retry::Scheduled);
    let running = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    let done = store
        .complete(&other.id, running.attempt, &answer("b"))
        .await
        .unwrap();
    assert_eq!(done, Fenced::Applied);
    assert_eq!(
        store.get(&other.id).await.unwrap().unwrap().attempt_log,
        once
    );
}
