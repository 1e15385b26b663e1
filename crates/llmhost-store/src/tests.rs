//! The store's behaviour suite, written once and run against every backend
//! (SQLite always; PostgreSQL when `LLMHOST_TEST_POSTGRES_URL` is set).

use std::time::Duration;

use super::*;
use crate::error_code::ErrorCode;
use crate::task::{Message, Params, Role, TaskError, TaskResult};

const LEASE: Duration = Duration::from_secs(30);

fn new_task(provider: &str) -> NewTask {
    NewTask {
        id: uuid::Uuid::now_v7().to_string(),
        provider: provider.into(),
        model: "echo".into(),
        input: TaskInput {
            messages: vec![Message {
                role: Role::User,
                content: "hi".into(),
            }],
            params: Params::default(),
        },
        metadata: Some(serde_json::json!({"k": "v"})),
        max_attempts: 2,
        timeout_ms: None,
        idempotency: None,
    }
}

/// Inserts a task that must be new.
async fn insert(store: &Store, task: &NewTask) -> Task {
    match store.insert(task).await.unwrap() {
        Inserted::Created(task) => task,
        other => panic!("expected a new task, got {other:?}"),
    }
}

fn answer(text: &str) -> TaskResult {
    TaskResult {
        text: text.into(),
        finish_reason: "stop".into(),
        usage: None,
        model: "echo".into(),
    }
}

fn error(code: ErrorCode) -> TaskError {
    TaskError::new(code, format!("{code} happened"))
}

async fn status(store: &Store, id: &str) -> TaskStatus {
    store.get(id).await.unwrap().unwrap().status
}

/// Claims the task and makes its lease expire, returning the attempt.
async fn claim_and_expire(store: &Store) -> ClaimedTask {
    let claimed = store
        .claim("w1", Duration::from_millis(1))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    claimed
}

async fn insert_commits_a_pending_task_that_get_returns(store: Store) {
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

async fn claim_takes_the_oldest_task_and_increments_the_attempt(store: Store) {
    let first = new_task("echo");
    let second = new_task("echo");
    insert(&store, &first).await;
    insert(&store, &second).await;
    let claimed = store.claim("w1", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    assert_eq!(claimed.attempt, 1);
    assert_eq!(claimed.input, first.input);
    let task = store.get(&first.id).await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Running);
    assert!(task.started_at.is_some());
    assert_eq!(
        store.claim("w2", LEASE).await.unwrap().unwrap().id,
        second.id
    );
    assert!(store.claim("w3", LEASE).await.unwrap().is_none());
}

async fn complete_is_written_once_and_a_terminal_status_never_changes(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let claimed = store.claim("w1", LEASE).await.unwrap().unwrap();
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
async fn two_writers_racing_for_a_terminal_status_have_exactly_one_winner(store: Store) {
    for round in 0..20 {
        let task = new_task("echo");
        insert(&store, &task).await;
        let claimed = store.claim("w1", LEASE).await.unwrap().unwrap();
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

async fn a_write_with_a_stale_attempt_is_refused_after_a_takeover(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let first = claim_and_expire(&store).await;
    let rescued = store.rescue_expired(now_ms()).await.unwrap();
    assert_eq!(
        rescued,
        Rescued {
            requeued: 1,
            failed: 0
        }
    );
    let second = store.claim("w2", LEASE).await.unwrap().unwrap();
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

async fn rescue_fails_an_expired_task_whose_attempts_are_used_up(store: Store) {
    let mut task = new_task("echo");
    task.max_attempts = 1;
    insert(&store, &task).await;
    claim_and_expire(&store).await;
    let rescued = store.rescue_expired(now_ms()).await.unwrap();
    assert_eq!(
        rescued,
        Rescued {
            requeued: 0,
            failed: 1
        }
    );
    let read = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(read.status, TaskStatus::Failed);
    assert_eq!(read.error_code.as_deref(), Some("lease_expired"));
}

async fn rescue_racing_a_completion_leaves_it_completed(store: Store) {
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

async fn rescue_leaves_live_leases_alone(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let claimed = store.claim("w1", LEASE).await.unwrap().unwrap();
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

async fn retry_returns_the_task_to_pending_until_it_is_due(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let claimed = store.claim("w1", LEASE).await.unwrap().unwrap();
    let err = error(ErrorCode::RateLimited);
    let delay = Duration::from_millis(300);
    assert_eq!(
        store
            .retry(&task.id, claimed.attempt, &err, delay)
            .await
            .unwrap(),
        Fenced::Applied
    );
    let read = store.get(&task.id).await.unwrap().unwrap();
    assert_eq!(read.status, TaskStatus::Pending);
    assert_eq!(
        read.error_code.as_deref(),
        Some("rate_limited"),
        "the last error stays visible"
    );
    assert!(
        store.claim("w1", LEASE).await.unwrap().is_none(),
        "not claimable before it is due"
    );
    let due = store
        .next_due_in()
        .await
        .unwrap()
        .expect("a task is waiting");
    assert!(due <= delay);
    tokio::time::sleep(due + Duration::from_millis(20)).await;
    let again = store.claim("w1", LEASE).await.unwrap().expect("due now");
    assert_eq!(again.attempt, 2);
    // Attempts are used up (max 2): a retry is refused and the caller fails it.
    assert_eq!(
        store
            .retry(&task.id, again.attempt, &err, delay)
            .await
            .unwrap(),
        Fenced::Lost
    );
    assert_eq!(
        store.fail(&task.id, again.attempt, &err).await.unwrap(),
        Fenced::Applied
    );
    assert_eq!(status(&store, &task.id).await, TaskStatus::Failed);
}

async fn cancel_of_a_pending_task_is_immediate_and_final(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let Cancel::Cancelled(read) = store.cancel(&task.id).await.unwrap() else {
        panic!("cancelled")
    };
    assert_eq!(read.status, TaskStatus::Cancelled);
    assert!(store.claim("w1", LEASE).await.unwrap().is_none());
    assert!(matches!(
        store.cancel(&task.id).await.unwrap(),
        Cancel::AlreadyFinished(_)
    ));
    assert_eq!(store.cancel("missing").await.unwrap(), Cancel::NotFound);
}

async fn cancel_of_a_running_task_is_recorded_by_its_worker(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let claimed = store.claim("w1", LEASE).await.unwrap().unwrap();
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
    assert_eq!(retried, Fenced::Lost, "a cancelled task is not retried");
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

async fn list_filters_by_status_and_provider_and_pages_newest_first(store: Store) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let task = new_task(if i % 2 == 0 { "echo" } else { "other" });
        insert(&store, &task).await;
        ids.push(task.id);
    }
    let claimed = store.claim("w1", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, ids[0]);
    let page = |status, provider: Option<&str>, cursor| ListQuery {
        status,
        provider: provider.map(String::from),
        limit: 2,
        cursor,
    };
    let first = store.list(&page(None, None, None)).await.unwrap();
    assert_eq!(
        first
            .tasks
            .iter()
            .map(|t| t.task_id.clone())
            .collect::<Vec<_>>(),
        [ids[4].clone(), ids[3].clone()]
    );
    let second = store
        .list(&page(None, None, first.next_cursor))
        .await
        .unwrap();
    assert_eq!(
        second
            .tasks
            .iter()
            .map(|t| t.task_id.clone())
            .collect::<Vec<_>>(),
        [ids[2].clone(), ids[1].clone()]
    );
    let third = store
        .list(&page(None, None, second.next_cursor))
        .await
        .unwrap();
    assert_eq!(third.tasks.len(), 1);
    assert!(third.next_cursor.is_none());
    let echo_pending = store
        .list(&page(Some(TaskStatus::Pending), Some("echo"), None))
        .await
        .unwrap();
    assert_eq!(
        echo_pending
            .tasks
            .iter()
            .map(|t| t.task_id.clone())
            .collect::<Vec<_>>(),
        [ids[4].clone(), ids[2].clone()]
    );
    let running = store
        .list(&page(Some(TaskStatus::Running), None, None))
        .await
        .unwrap();
    assert_eq!(running.tasks.len(), 1);
}

async fn a_submission_wakes_a_waiting_worker(store: Store) {
    let woken = store.work_signal().notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    insert(&store, &new_task("echo")).await;
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("woken by the insert");
}

async fn an_idempotency_key_stores_one_task_per_request(store: Store) {
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

async fn concurrent_submissions_with_one_key_create_exactly_one_task(store: Store) {
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

/// Concurrent claimers never get the same attempt of a task.
async fn concurrent_claims_never_hand_out_a_task_twice(store: Store) {
    for _ in 0..40 {
        insert(&store, &new_task("echo")).await;
    }
    let claimers = (0..8).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(task) = store.claim(&format!("w{w}"), LEASE).await.unwrap() {
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
async fn a_batch_claim_takes_the_oldest_due_tasks_up_to_its_size(store: Store) {
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(insert(&store, &new_task("echo")).await.task_id);
    }
    // The oldest task fails once and waits for its retry: not due.
    let first = store.claim("w0", LEASE).await.unwrap().unwrap();
    let err = error(ErrorCode::Timeout);
    let retried = store
        .retry(&first.id, first.attempt, &err, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(retried, Fenced::Applied);
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
async fn a_corrupt_row_does_not_lose_the_rest_of_its_batch(store: Store) {
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(insert(&store, &new_task("echo")).await.task_id);
    }
    store.unfenced_set_input(&ids[1], "not json").await.unwrap();
    let batch = store.claim_batch("w1", LEASE, 3).await.unwrap();
    let claimed: Vec<&str> = batch.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(claimed, [&ids[0], &ids[2]]);
    // Alone, it is still reported.
    let lone = insert(&store, &new_task("echo")).await.task_id;
    store.unfenced_set_input(&lone, "not json").await.unwrap();
    let err = store.claim("w2", LEASE).await.expect_err("unreadable");
    assert!(err.to_string().contains(&lone), "{err}");
}

/// Even a writer that bypasses the store's fencing cannot rewrite a
/// terminal status: the database itself refuses.
async fn the_database_itself_refuses_to_change_a_terminal_status(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let claimed = store.claim("w1", LEASE).await.unwrap().unwrap();
    let _ = store
        .complete(&task.id, claimed.attempt, &answer("done"))
        .await
        .unwrap();
    for status in ["failed", "pending", "running", "cancelled"] {
        let err = store
            .unfenced_set_status(&task.id, status)
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

/// Streamed text is stored only under the claim that produced it, read back
/// in order per attempt, and cleared per attempt.
async fn streamed_text_is_fenced_by_the_attempt_and_read_in_order(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    assert_eq!(
        store.append_delta(&task.id, 1, 1, "early").await.unwrap(),
        Fenced::Lost,
        "nothing is stored for a task that is not running"
    );
    let first = claim_and_expire(&store).await;
    for (seq, text) in [(1, "one "), (2, "two ")] {
        let written = store.append_delta(&task.id, first.attempt, seq, text).await;
        assert_eq!(written.unwrap(), Fenced::Applied);
    }
    store.rescue_expired(now_ms()).await.unwrap();
    let second = store.claim("w2", LEASE).await.unwrap().unwrap();
    assert_eq!(
        store
            .append_delta(&task.id, first.attempt, 3, "late")
            .await
            .unwrap(),
        Fenced::Lost,
        "a worker that lost the task stores nothing"
    );
    let written = store
        .append_delta(&task.id, second.attempt, 1, "fresh")
        .await;
    assert_eq!(written.unwrap(), Fenced::Applied);

    let texts = |deltas: Vec<Delta>| deltas.into_iter().map(|d| d.text).collect::<Vec<_>>();
    let of_first = store.deltas(&task.id, first.attempt, 0).await.unwrap();
    assert_eq!(texts(of_first), ["one ", "two "]);
    let after_one = store.deltas(&task.id, first.attempt, 1).await.unwrap();
    assert_eq!(texts(after_one), ["two "]);
    let of_second = store.deltas(&task.id, second.attempt, 0).await.unwrap();
    assert_eq!(texts(of_second), ["fresh"]);
    // The last attempt's outcome clears its text and what a killed earlier
    // attempt left behind.
    store.clear_deltas(&task.id, second.attempt).await.unwrap();
    for attempt in [first.attempt, second.attempt] {
        let left = store.deltas(&task.id, attempt, 0).await.unwrap();
        assert!(left.is_empty(), "{left:?}");
    }
}

/// Claims `n` new tasks in one batch, oldest first.
async fn running_tasks(store: &Store, n: u32) -> Vec<ClaimedTask> {
    for _ in 0..n {
        insert(store, &new_task("echo")).await;
    }
    let claimed = store.claim_batch("w1", LEASE, n).await.unwrap();
    assert_eq!(claimed.len(), n as usize);
    claimed
}

/// Completions issued together are written together (one statement on the
/// writer): each is applied, and each task reads back its own result.
async fn concurrent_completions_are_each_applied_with_their_own_result(store: Store) {
    let claimed = running_tasks(&store, 100).await;
    let results: Vec<TaskResult> = (0..claimed.len())
        .map(|i| answer(&format!("result {i}")))
        .collect();
    let written = futures::future::join_all(
        claimed
            .iter()
            .zip(&results)
            .map(|(task, result)| store.complete(&task.id, task.attempt, result)),
    )
    .await;
    for (task, (written, result)) in claimed.iter().zip(written.into_iter().zip(&results)) {
        assert_eq!(written.unwrap(), Fenced::Applied, "{}", task.id);
        let read = store.get(&task.id).await.unwrap().unwrap();
        assert_eq!(read.status, TaskStatus::Completed);
        assert_eq!(read.result.as_ref(), Some(result));
        assert!(read.error_code.is_none());
    }
}

/// In one batch, rows whose writer lost the task (a stale attempt, a
/// cancelled task, a finished one) are refused and the rest applied.
async fn a_batch_applies_only_the_completions_whose_attempt_still_runs(store: Store) {
    // A task taken over by a second attempt.
    let taken_over = new_task("echo");
    insert(&store, &taken_over).await;
    let stale = claim_and_expire(&store).await;
    store.rescue_expired(now_ms()).await.unwrap();
    let current = store.claim("w2", LEASE).await.unwrap().unwrap();
    assert_eq!(current.id, taken_over.id);
    let good = running_tasks(&store, 3).await;
    // A running task cancelled by its worker, and one already failed.
    let (cancelled, failed) = (&good[1], &good[2]);
    assert!(matches!(
        store.cancel(&cancelled.id).await.unwrap(),
        Cancel::Requested(_)
    ));
    let recorded = store
        .record_cancelled(&cancelled.id, cancelled.attempt)
        .await
        .unwrap();
    assert_eq!(recorded, Fenced::Applied);
    let fail = store
        .fail(&failed.id, failed.attempt, &error(ErrorCode::UpstreamError))
        .await
        .unwrap();
    assert_eq!(fail, Fenced::Applied);
    let good = &good[0];

    let [late, ok, x, y, latest] = ["late", "good", "x", "y", "current"].map(answer);
    let (late, ok, on_cancelled, on_failed, current_ok) = tokio::join!(
        store.complete(&taken_over.id, stale.attempt, &late),
        store.complete(&good.id, good.attempt, &ok),
        store.complete(&cancelled.id, cancelled.attempt, &x),
        store.complete(&failed.id, failed.attempt, &y),
        store.complete(&taken_over.id, current.attempt, &latest),
    );
    assert_eq!(late.unwrap(), Fenced::Lost);
    assert_eq!(ok.unwrap(), Fenced::Applied);
    assert_eq!(on_cancelled.unwrap(), Fenced::Lost);
    assert_eq!(on_failed.unwrap(), Fenced::Lost);
    assert_eq!(current_ok.unwrap(), Fenced::Applied);
    let read = |id: String| {
        let store = store.clone();
        async move { store.get(&id).await.unwrap().unwrap() }
    };
    let taken_over = read(taken_over.id).await;
    assert_eq!(taken_over.status, TaskStatus::Completed);
    assert_eq!(taken_over.result.unwrap().text, "current");
    assert_eq!(read(good.id.clone()).await.result.unwrap().text, "good");
    let cancelled = read(cancelled.id.clone()).await;
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    assert!(cancelled.result.is_none());
    let failed = read(failed.id.clone()).await;
    assert_eq!(failed.status, TaskStatus::Failed);
    assert!(failed.result.is_none());
}

/// Two writers completing one attempt, among other completions queued at
/// the same time, still have exactly one winner, whose result is stored.
async fn two_completions_racing_for_one_task_in_concurrent_batches_have_one_winner(store: Store) {
    for round in 0..10 {
        let claimed = running_tasks(&store, 8).await;
        let target = &claimed[3];
        let (first, second) = (answer("first writer"), answer("second writer"));
        let others = answer("other");
        let mut writes: Vec<_> = claimed
            .iter()
            .map(|task| store.complete(&task.id, task.attempt, &others))
            .collect();
        // The target's own completion above plus two more racing writers,
        // queued with the rest.
        writes.push(store.complete(&target.id, target.attempt, &first));
        writes.push(store.complete(&target.id, target.attempt, &second));
        let written: Vec<Fenced> = futures::future::join_all(writes)
            .await
            .into_iter()
            .map(|w| w.unwrap())
            .collect();
        let (for_target, rest): (Vec<_>, Vec<_>) = written
            .iter()
            .enumerate()
            .partition(|(i, _)| *i == 3 || *i >= claimed.len());
        let winners: Vec<usize> = for_target
            .iter()
            .filter(|(_, w)| **w == Fenced::Applied)
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {for_target:?}");
        assert!(
            rest.iter().all(|(_, w)| **w == Fenced::Applied),
            "round {round}"
        );
        let expected = match winners[0] {
            3 => "other",
            i if i == claimed.len() => "first writer",
            _ => "second writer",
        };
        let read = store.get(&target.id).await.unwrap().unwrap();
        assert_eq!(read.result.unwrap().text, expected, "round {round}");
    }
}

/// Submissions without a key arriving together are stored together: each
/// caller gets its own committed task back.
async fn concurrent_submissions_each_store_their_own_task(store: Store) {
    let tasks: Vec<NewTask> = (0..100)
        .map(|i| NewTask {
            metadata: Some(serde_json::json!({ "n": i })),
            ..new_task("echo")
        })
        .collect();
    let stored = futures::future::join_all(tasks.iter().map(|t| store.insert(t))).await;
    for (task, stored) in tasks.iter().zip(stored) {
        let Inserted::Created(stored) = stored.unwrap() else {
            panic!("{} was not created", task.id);
        };
        assert_eq!(stored.task_id, task.id);
        assert_eq!(stored.metadata, task.metadata);
        assert_eq!(store.get(&task.id).await.unwrap(), Some(stored));
    }
    let claimed = store.claim_batch("w1", LEASE, 200).await.unwrap();
    assert_eq!(claimed.len(), tasks.len());
}

/// A submission the database refuses fails alone, even when it was
/// written together with others.
async fn a_refused_row_fails_alone_among_concurrent_submissions(store: Store) {
    let existing = new_task("echo");
    insert(&store, &existing).await;
    let duplicate = NewTask {
        id: existing.id.clone(),
        ..new_task("echo")
    };
    let no_attempts = NewTask {
        max_attempts: 0,
        ..new_task("echo")
    };
    let good: Vec<NewTask> = (0..5).map(|_| new_task("echo")).collect();
    let (dup, none, goods) = tokio::join!(
        store.insert(&duplicate),
        store.insert(&no_attempts),
        futures::future::join_all(good.iter().map(|t| store.insert(t))),
    );
    assert!(dup.is_err(), "{dup:?}");
    assert!(none.is_err(), "{none:?}");
    for (task, stored) in good.iter().zip(goods) {
        assert!(matches!(stored.unwrap(), Inserted::Created(t) if t.task_id == task.id));
    }
    assert!(store.get(&no_attempts.id).await.unwrap().is_none());
    let kept = store.get(&existing.id).await.unwrap().unwrap();
    assert_eq!(kept.provider, existing.provider);
    assert_eq!(kept.input, existing.input);
}

macro_rules! store_suite {
    ($open:path; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                // `None`: this backend is not available here (the opener said why).
                if let Some((store, _guard)) = $open().await {
                    super::$test(store).await;
                }
            }
        )*
    };
}

macro_rules! all_store_tests {
    ($open:path) => {
        store_suite!($open;
            insert_commits_a_pending_task_that_get_returns,
            claim_takes_the_oldest_task_and_increments_the_attempt,
            complete_is_written_once_and_a_terminal_status_never_changes,
            two_writers_racing_for_a_terminal_status_have_exactly_one_winner,
            a_write_with_a_stale_attempt_is_refused_after_a_takeover,
            rescue_fails_an_expired_task_whose_attempts_are_used_up,
            rescue_racing_a_completion_leaves_it_completed,
            rescue_leaves_live_leases_alone,
            retry_returns_the_task_to_pending_until_it_is_due,
            cancel_of_a_pending_task_is_immediate_and_final,
            cancel_of_a_running_task_is_recorded_by_its_worker,
            list_filters_by_status_and_provider_and_pages_newest_first,
            a_submission_wakes_a_waiting_worker,
            an_idempotency_key_stores_one_task_per_request,
            concurrent_submissions_with_one_key_create_exactly_one_task,
            concurrent_claims_never_hand_out_a_task_twice,
            a_batch_claim_takes_the_oldest_due_tasks_up_to_its_size,
            a_corrupt_row_does_not_lose_the_rest_of_its_batch,
            the_database_itself_refuses_to_change_a_terminal_status,
            streamed_text_is_fenced_by_the_attempt_and_read_in_order,
            concurrent_completions_are_each_applied_with_their_own_result,
            a_batch_applies_only_the_completions_whose_attempt_still_runs,
            two_completions_racing_for_one_task_in_concurrent_batches_have_one_winner,
            concurrent_submissions_each_store_their_own_task,
            a_refused_row_fails_alone_among_concurrent_submissions,
        );
    };
}

mod postgres {
    use super::*;
    use crate::testing::TestDatabase;

    /// A fresh database on the test server for each test, dropped with the
    /// guard. `None` (the test reports itself skipped) when no server
    /// answers, except under CI, where PostgreSQL must be there.
    pub(super) async fn open() -> Option<(Store, TestDatabase)> {
        let db = TestDatabase::create().await?;
        Some((Store::connect(&db.url).await.unwrap(), db))
    }

    all_store_tests!(open);
}

mod sqlite {
    use super::*;

    pub(super) async fn open() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        (Store::connect(&url).await.unwrap(), dir)
    }

    async fn open_suite() -> Option<(Store, tempfile::TempDir)> {
        Some(open().await)
    }

    all_store_tests!(open_suite);

    #[tokio::test]
    async fn recovery_after_a_restart_requeues_running_tasks_due_at_once() {
        let (store, _dir) = open().await;
        let task = new_task("echo");
        insert(&store, &task).await;
        let first = store.claim("dead-process", LEASE).await.unwrap().unwrap();
        let before = store.get(&task.id).await.unwrap().unwrap();
        assert_eq!(
            store.recover_after_restart().await.unwrap(),
            Rescued {
                requeued: 1,
                failed: 0
            }
        );
        let read = store.get(&task.id).await.unwrap().unwrap();
        assert_eq!(read.status, TaskStatus::Pending);
        assert!(
            read.updated_at >= before.updated_at,
            "stamped with the real time"
        );
        let second = store
            .claim("w1", LEASE)
            .await
            .unwrap()
            .expect("due at once");
        assert_eq!(second.attempt, first.attempt + 1);
    }

    #[tokio::test]
    async fn a_second_process_cannot_open_the_same_database() {
        let (_store, dir) = open().await;
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let err = Store::connect(&url).await.err().expect("locked");
        assert!(
            err.to_string()
                .contains("in use by another llmhost process"),
            "{err}"
        );
    }
}
