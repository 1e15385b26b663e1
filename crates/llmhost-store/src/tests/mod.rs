//! The store's behaviour suite, written once and run against every backend
//! (SQLite always; PostgreSQL when `LLMHOST_TEST_POSTGRES_URL` is set, and
//! required under `CI=true`), one file per transition or concern:
//! `insert`, `claim`, `finish`, `cancel`, `rescue`, `batch`, `deltas`,
//! `reads`, `probe` (readiness), and `transitions`, which checks every store operation against
//! `TaskStatus::TRANSITIONS`. `schema` compares the two migration sets.
//!
//! A behaviour is an `async fn(Store)` in its concern's file, listed once in
//! `all_store_tests!`, which runs it on each backend; one left out of the
//! list is dead code, which the lints refuse.

mod batch;
mod cancel;
mod claim;
mod deltas;
mod finish;
mod insert;
mod keys;
mod probe;
mod reads;
mod rescue;
mod schema;
mod transitions;
mod usage;

use std::time::Duration;

use super::*;
use crate::backend::{on_reader, on_writer};
use crate::error_code::ErrorCode;
use crate::task::{AttemptOutcome, AttemptRecord, TaskError, TaskResult};
use crate::testing::new_task;

const LEASE: Duration = Duration::from_secs(30);

/// Claims the oldest due pending task, as a worker with one free slot does.
async fn claim(store: &Store, owner: &str, lease: Duration) -> Result<Option<ClaimedTask>> {
    Ok(store.claim_batch(owner, lease, 1).await?.into_iter().next())
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
        tool_calls: Vec::new(),
        reasoning: None,
        refusal: None,
        response_id: None,
        provider_state: None,
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
    let claimed = claim(store, "w1", Duration::from_millis(1))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    claimed
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

/// An UPDATE with no guard at all, as a buggy writer would issue, for the
/// tests that prove the database refuses it.
async fn unfenced_set_status(store: &Store, id: &str, status: &str) -> Result<()> {
    on_writer!(store.backend(), |pool| {
        sqlx::query("UPDATE tasks SET status = $2 WHERE id = $1")
            .bind(id)
            .bind(status)
            .execute(pool)
            .await
            .map(|_| ())?
    });
    Ok(())
}

/// Overwrites a task's stored input, as a corrupted row or another
/// version's format would leave it.
async fn unfenced_set_input(store: &Store, id: &str, input: &str) -> Result<()> {
    on_writer!(store.backend(), |pool| {
        sqlx::query("UPDATE tasks SET input = $2 WHERE id = $1")
            .bind(id)
            .bind(input)
            .execute(pool)
            .await
            .map(|_| ())?
    });
    Ok(())
}

macro_rules! store_suite {
    ($open:path; $($concern:ident: [$($test:ident),* $(,)?]),* $(,)?) => {
        $(
            mod $concern {
                $(
                    #[tokio::test]
                    async fn $test() {
                        // `None`: this backend is not available here (the
                        // opener said why).
                        if let Some((store, _guard)) = $open().await {
                            crate::tests::$concern::$test(store).await;
                        }
                    }
                )*
            }
        )*
    };
}

macro_rules! all_store_tests {
    ($open:path) => {
        store_suite!($open;
            insert: [
                insert_commits_a_pending_task_that_get_returns,
                a_submission_wakes_a_waiting_worker,
                an_idempotency_key_stores_one_task_per_request,
                concurrent_submissions_with_one_key_create_exactly_one_task,
            ],
            claim: [
                claim_takes_the_oldest_task_and_increments_the_attempt,
                concurrent_claims_never_hand_out_a_task_twice,
                a_batch_claim_takes_the_oldest_due_tasks_up_to_its_size,
                a_corrupt_row_does_not_lose_the_rest_of_its_batch,
            ],
            finish: [
                complete_is_written_once_and_a_terminal_status_never_changes,
                two_writers_racing_for_a_terminal_status_have_exactly_one_winner,
                a_write_with_a_stale_attempt_is_refused_after_a_takeover,
                retry_returns_the_task_to_pending_until_it_is_due,
                a_refused_retry_says_why_and_writes_nothing,
                the_database_itself_refuses_to_change_a_terminal_status,
                the_attempt_log_is_written_with_each_outcome_and_fenced_like_it,
            ],
            cancel: [
                cancel_of_a_pending_task_is_immediate_and_final,
                cancel_of_a_running_task_is_recorded_by_its_worker,
            ],
            rescue: [
                rescue_fails_an_expired_task_whose_attempts_are_used_up,
                rescue_cancels_an_expired_task_whose_cancel_was_requested,
                rescue_racing_a_completion_leaves_it_completed,
                rescue_leaves_live_leases_alone,
                rescue_ends_the_attempt_log_with_the_interrupted_attempt,
                a_routed_attempts_tried_targets_outlive_its_worker,
                a_released_attempt_ends_the_log_as_interrupted,
            ],
            batch: [
                concurrent_completions_are_each_applied_with_their_own_result,
                a_batch_applies_only_the_completions_whose_attempt_still_runs,
                two_completions_racing_for_one_task_in_concurrent_batches_have_one_winner,
                concurrent_submissions_each_store_their_own_task,
                a_refused_row_fails_alone_among_concurrent_submissions,
            ],
            deltas: [
                streamed_text_is_fenced_by_the_attempt_and_read_in_order,
                every_kind_of_piece_is_stored_and_read_back_as_written,
            ],
            reads: [
                list_filters_by_status_and_provider_and_pages_newest_first,
                list_filters_by_model_error_code_time_and_id_or_key,
                list_by_route_finds_the_routes_tasks_and_not_an_instance_of_that_name,
                the_overview_counts_finished_tasks_by_slice_and_provider,
                the_overview_totals_drop_deleted_tasks,
            ],
            probe: [
                a_probe_commits_its_one_row_each_time,
            ],
            keys: [
                a_key_is_found_by_its_hash_until_it_is_revoked,
                concurrent_admissions_hold_rpm_and_parallel_exactly,
                an_idempotency_key_belongs_to_its_api_key,
                a_rotated_key_keeps_its_id_and_refuses_its_old_secret,
            ],
            usage: [
                a_completed_attempt_is_recorded_once_and_a_lost_one_never,
                a_spent_budget_closes_the_key_until_its_period_ends,
                tpm_counts_reservations_until_each_request_ends,
                every_attempt_is_a_ledger_row_with_its_outcome,
                a_roll_up_keeps_every_sum,
                concurrent_keyless_calls_are_each_a_row_of_their_own,
                keyless_rows_queued_after_the_answer_wait_for_company,
            ],
            transitions: [
                every_store_operation_moves_a_task_only_along_the_table,
            ],
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

    all_store_tests!(crate::tests::postgres::open);
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

    all_store_tests!(crate::tests::sqlite::open_suite);

    #[tokio::test]
    async fn recovery_after_a_restart_requeues_running_tasks_due_at_once() {
        let (store, _dir) = open().await;
        let task = new_task("echo");
        insert(&store, &task).await;
        let first = claim(&store, "dead-process", LEASE).await.unwrap().unwrap();
        let before = store.get(&task.id).await.unwrap().unwrap();
        assert_eq!(
            store.recover_after_restart().await.unwrap(),
            Rescued {
                requeued: 1,
                failed: 0,
                cancelled: 0,
            }
        );
        let read = store.get(&task.id).await.unwrap().unwrap();
        assert_eq!(read.status, TaskStatus::Pending);
        assert!(
            read.updated_at >= before.updated_at,
            "stamped with the real time"
        );
        let second = claim(&store, "w1", LEASE)
            .await
            .unwrap()
            .expect("due at once");
        assert_eq!(second.attempt, first.attempt + 1);
    }

    #[tokio::test]
    async fn a_probe_that_cannot_get_the_writer_in_time_is_a_timeout_outage() {
        let (store, _dir) = open().await;
        let Backend::Sqlite(b) = store.backend() else {
            unreachable!("opened SQLite")
        };
        let _held = b.writer.lock().await;
        let err = store
            .probe_commit(Duration::from_millis(50))
            .await
            .expect_err("the writer is held");
        assert_eq!(err.outage(), Some(Outage::Timeout), "{err}");
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
