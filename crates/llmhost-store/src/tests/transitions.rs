//! Every store operation against `TaskStatus::TRANSITIONS`: each edge the
//! table lists is reached through the method it names, no operation moves a
//! task along an edge the table does not give it, a worker's write with an
//! attempt that does not hold the task moves nothing, and each operation's
//! answer says whether it moved the task.

use std::collections::BTreeSet;

use super::*;
use crate::admission::Admission;
use crate::task::Transition;
use crate::testing::new_key;

/// Where the task an operation is tried on starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    /// No such task.
    Absent,
    Pending,
    /// Pending, waiting for its retry.
    PendingNotDue,
    Running,
    RunningCancelRequested,
    RunningLastAttempt,
    Expired,
    ExpiredCancelRequested,
    ExpiredLastAttempt,
    Completed,
    Failed,
    Cancelled,
}

impl Start {
    fn is_running(self) -> bool {
        matches!(
            self,
            Start::Running
                | Start::RunningCancelRequested
                | Start::RunningLastAttempt
                | Start::Expired
                | Start::ExpiredCancelRequested
                | Start::ExpiredLastAttempt
        )
    }
}

const STARTS: [Start; 12] = [
    Start::Absent,
    Start::Pending,
    Start::PendingNotDue,
    Start::Running,
    Start::RunningCancelRequested,
    Start::RunningLastAttempt,
    Start::Expired,
    Start::ExpiredCancelRequested,
    Start::ExpiredLastAttempt,
    Start::Completed,
    Start::Failed,
    Start::Cancelled,
];

/// Every operation of the store that writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Insert,
    AdmitTask,
    ClaimBatch,
    Cancel,
    Heartbeat,
    LogProgress,
    Complete,
    Fail,
    Retry,
    Release,
    RecordCancelled,
    AppendDelta,
    ClearDeltas,
    RescueExpired,
    RecoverAfterRestart,
}

const OPS: [Op; 15] = [
    Op::Insert,
    Op::AdmitTask,
    Op::ClaimBatch,
    Op::Cancel,
    Op::Heartbeat,
    Op::LogProgress,
    Op::Complete,
    Op::Fail,
    Op::Retry,
    Op::Release,
    Op::RecordCancelled,
    Op::AppendDelta,
    Op::ClearDeltas,
    Op::RescueExpired,
    Op::RecoverAfterRestart,
];

impl Op {
    /// The `Store` method, as the table names it.
    fn method(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::AdmitTask => "admit_task",
            Op::ClaimBatch => "claim_batch",
            Op::Cancel => "cancel",
            Op::Heartbeat => "heartbeat",
            Op::LogProgress => "log_progress",
            Op::Complete => "complete",
            Op::Fail => "fail",
            Op::Retry => "retry",
            Op::Release => "release",
            Op::RecordCancelled => "record_cancelled",
            Op::AppendDelta => "append_deltas",
            Op::ClearDeltas => "clear_deltas",
            Op::RescueExpired => "rescue_expired",
            Op::RecoverAfterRestart => "recover_after_restart",
        }
    }

    /// Whether the operation presents a worker's attempt.
    fn is_fenced(self) -> bool {
        matches!(
            self,
            Op::Heartbeat
                | Op::LogProgress
                | Op::Complete
                | Op::Fail
                | Op::Retry
                | Op::Release
                | Op::RecordCancelled
                | Op::AppendDelta
        )
    }
}

/// The task an operation is tried on.
struct Subject {
    task: NewTask,
    /// The attempt that holds it (or last held it).
    attempt: u32,
}

/// Makes a new task that starts where `start` says. Claims go through
/// `claim_batch` with room for every due task, so that tasks an earlier
/// case left pending cannot keep this one from being claimed.
async fn subject(store: &Store, start: Start) -> Subject {
    let mut task = new_task("echo");
    if matches!(start, Start::RunningLastAttempt | Start::ExpiredLastAttempt) {
        task.max_attempts = 1;
    }
    if start == Start::Absent {
        return Subject { task, attempt: 1 };
    }
    insert(store, &task).await;
    let lease = match start {
        Start::Expired | Start::ExpiredCancelRequested | Start::ExpiredLastAttempt => {
            Duration::from_millis(1)
        }
        _ => LEASE,
    };
    if matches!(start, Start::Pending | Start::Cancelled) {
        if start == Start::Cancelled {
            assert!(matches!(
                store.cancel(&task.id).await.unwrap(),
                Cancel::Cancelled(_)
            ));
        }
        return Subject { task, attempt: 0 };
    }
    let claimed = store.claim_batch("setup", lease, 10_000).await.unwrap();
    let attempt = claimed
        .iter()
        .find(|c| c.id == task.id)
        .expect("the new task is claimed")
        .attempt;
    let id = task.id.as_str();
    match start {
        Start::PendingNotDue => {
            let delay = Duration::from_secs(600);
            let err = error(ErrorCode::RateLimited);
            let retried = store.retry(id, attempt, &err, delay).await.unwrap();
            assert_eq!(retried, Retry::Scheduled);
        }
        Start::RunningCancelRequested | Start::ExpiredCancelRequested => {
            let asked = store.cancel(id).await.unwrap();
            assert!(matches!(asked, Cancel::Requested(_)), "{asked:?}");
        }
        Start::Completed => {
            let done = store.complete(id, attempt, &answer("done")).await.unwrap();
            assert_eq!(done, Fenced::Applied);
        }
        Start::Failed => {
            let err = error(ErrorCode::UpstreamError);
            assert_eq!(
                store.fail(id, attempt, &err).await.unwrap(),
                Fenced::Applied
            );
        }
        _ => {}
    }
    if lease < LEASE {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Subject { task, attempt }
}

/// Runs `op` on the subject, presenting `attempt` where a worker would.
/// Returns whether its answer says it moved the subject (`None`: the
/// answer does not say, as with the rescue's counts over every task, or
/// the operation never moves one).
async fn run(store: &Store, op: Op, subject: &Subject, attempt: u32) -> Option<bool> {
    let id = subject.task.id.as_str();
    let err = error(ErrorCode::RateLimited);
    match op {
        // An id that exists is refused by the database.
        Op::Insert => Some(matches!(
            store.insert(&subject.task).await,
            Ok(Inserted::Created(_))
        )),
        Op::AdmitTask => {
            let key = store
                .create_key(&new_key(Default::default()))
                .await
                .unwrap();
            Some(matches!(
                store.admit_task(&key.id, &subject.task, 0).await,
                Ok(Admission::Admitted(Inserted::Created(_), _))
            ))
        }
        Op::ClaimBatch => {
            let claimed = store.claim_batch("w", LEASE, 10_000).await.unwrap();
            Some(claimed.iter().any(|c| c.id == id))
        }
        Op::Cancel => Some(matches!(
            store.cancel(id).await.unwrap(),
            Cancel::Cancelled(_)
        )),
        Op::Heartbeat => {
            let _ = store.heartbeat(id, attempt, LEASE).await.unwrap();
            None
        }
        // Moves nothing whether or not it is applied; `rescue` checks its
        // fence.
        Op::LogProgress => {
            let _ = store.log_progress(id, attempt, &[]).await.unwrap();
            None
        }
        Op::Complete => {
            let written = store.complete(id, attempt, &answer("a")).await.unwrap();
            Some(written == Fenced::Applied)
        }
        Op::Fail => Some(store.fail(id, attempt, &err).await.unwrap() == Fenced::Applied),
        Op::Retry => {
            let retried = store.retry(id, attempt, &err, Duration::ZERO).await;
            Some(retried.unwrap() == Retry::Scheduled)
        }
        Op::Release => Some(store.release(id, attempt).await.unwrap() == Fenced::Applied),
        Op::RecordCancelled => {
            let written = store.record_cancelled(id, attempt).await.unwrap();
            Some(written == Fenced::Applied)
        }
        Op::AppendDelta => {
            let _ = store
                .append_deltas(id, attempt, &[Delta::text(1, "x")])
                .await
                .unwrap();
            None
        }
        Op::ClearDeltas => {
            store.clear_deltas(id, attempt).await.unwrap();
            None
        }
        Op::RescueExpired => {
            store.rescue_expired(now_ms()).await.unwrap();
            None
        }
        Op::RecoverAfterRestart => {
            store.recover_after_restart().await.unwrap();
            None
        }
    }
}

async fn status_of(store: &Store, id: &str) -> Option<TaskStatus> {
    store.get(id).await.unwrap().map(|t| t.status)
}

fn listed(from: Option<TaskStatus>, to: TaskStatus, method: &str) -> bool {
    TaskStatus::TRANSITIONS
        .iter()
        .any(|t| t.from == from && t.to == to && t.methods.contains(&method))
}

pub(super) async fn every_store_operation_moves_a_task_only_along_the_table(store: Store) {
    let mut reached = BTreeSet::new();
    for op in OPS {
        // Taking over every lease is for a store that belongs to one
        // process alone.
        if op == Op::RecoverAfterRestart && !store.is_single_process() {
            continue;
        }
        for start in STARTS {
            // A worker's write with its own attempt, and, on a running
            // task, with one that does not hold it.
            let tokens: &[bool] = if op.is_fenced() && start.is_running() {
                &[true, false]
            } else {
                &[true]
            };
            for &holding in tokens {
                let subject = subject(&store, start).await;
                let id = subject.task.id.as_str();
                let attempt = if holding {
                    subject.attempt
                } else {
                    subject.attempt + 1
                };
                let before = status_of(&store, id).await;
                let said_moved = run(&store, op, &subject, attempt).await;
                let after = status_of(&store, id).await;
                let case = format!("{op:?} on {start:?} (holding attempt: {holding})");
                let moved = before != after;
                if moved {
                    let to = after.expect("no operation deletes a task");
                    assert!(
                        listed(before, to, op.method()),
                        "{case} moved the task from {before:?} to {to:?}, an edge the table does \
                         not give `{}`",
                        op.method()
                    );
                    assert!(
                        holding,
                        "{case}: a write without the task's attempt moved it"
                    );
                    reached.insert((before.map(|s| s.as_str()), to.as_str(), op.method()));
                }
                if let Some(said_moved) = said_moved {
                    assert_eq!(said_moved, moved, "{case}: its answer says what it did");
                }
                assert_rollups_agree(&store, &case).await.unwrap();
            }
        }
    }
    let single_process = store.is_single_process();
    let missing: Vec<&Transition> = TaskStatus::TRANSITIONS
        .iter()
        .filter(|t| {
            t.methods.iter().any(|&method| {
                (single_process || method != "recover_after_restart")
                    && !reached.contains(&(t.from.map(|s| s.as_str()), t.to.as_str(), method))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "edges of the table no operation reached: {missing:#?}"
    );
}

/// What the database keeps up to date as tasks move agrees with a recount
/// of the tasks after every operation: the totals by status, the finished
/// tasks per instance and outcome in `task_minutes`, a latency sample per
/// completed task, and one ledger row per attempt that has ended (every
/// attempt a task has had, less the one still running). Whatever writes
/// them (SQLite's triggers, PostgreSQL's finishing statements:
/// `transitions::bookkeeping`), no path that moves a task may skip them
/// or count twice.
async fn assert_rollups_agree(store: &Store, case: &str) -> Result<()> {
    let totals: BTreeSet<(String, i64)> = store
        .count_by_status()
        .await?
        .into_iter()
        .map(|(status, n)| (status.as_str().to_owned(), n))
        .collect();
    let recount: Vec<(String, i64)> = on_reader!(store.backend(), |pool| {
        sqlx::query_as("SELECT status, CAST(COUNT(*) AS BIGINT) FROM tasks GROUP BY status")
            .fetch_all(pool)
            .await?
    });
    assert_eq!(totals, recount.into_iter().collect(), "{case}: totals");

    let minutes: Vec<(String, String, i64)> = on_reader!(store.backend(), |pool| {
        sqlx::query_as(
            "SELECT provider, status, CAST(SUM(tasks) AS BIGINT) FROM task_minutes \
             GROUP BY provider, status ORDER BY provider, status",
        )
        .fetch_all(pool)
        .await?
    });
    let finished: Vec<(String, String, i64)> = on_reader!(store.backend(), |pool| {
        sqlx::query_as(
            "SELECT provider, status, CAST(COUNT(*) AS BIGINT) FROM tasks \
             WHERE status IN ('completed', 'failed', 'cancelled') \
             GROUP BY provider, status ORDER BY provider, status",
        )
        .fetch_all(pool)
        .await?
    });
    assert_eq!(minutes, finished, "{case}: minutes");

    let (samples, completed): (i64, i64) = on_reader!(store.backend(), |pool| {
        sqlx::query_as(
            "SELECT (SELECT CAST(COUNT(*) AS BIGINT) FROM task_latencies), \
                 (SELECT CAST(COUNT(*) AS BIGINT) FROM tasks WHERE status = 'completed' \
                     AND started_at IS NOT NULL AND completed_at IS NOT NULL)",
        )
        .fetch_one(pool)
        .await?
    });
    assert_eq!(samples, completed, "{case}: latency samples");

    let (ledger, ended): (i64, i64) = on_reader!(store.backend(), |pool| {
        sqlx::query_as(
            "SELECT (SELECT CAST(COUNT(*) AS BIGINT) FROM usage_records), \
                 (SELECT CAST(COALESCE(SUM(attempts - CASE WHEN status = 'running' \
                     THEN 1 ELSE 0 END), 0) AS BIGINT) FROM tasks)",
        )
        .fetch_one(pool)
        .await?
    });
    assert_eq!(ledger, ended, "{case}: ledger rows");
    Ok(())
}
