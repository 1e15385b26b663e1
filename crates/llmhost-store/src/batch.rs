//! Writes batched through one task: completions, and inserts without an
//! idempotency key. Under load many attempts finish and many submissions
//! arrive at once, and on SQLite each statement is a serial round trip to
//! the one writer connection; so these writes go to one batcher task, which
//! writes everything queued by the time it holds the writer in one
//! statement per kind. An idle store writes at once: the batcher never
//! waits for company.
//!
//! What each caller hears is what a single-row statement would have told
//! it: a completion stays fenced by its own attempt and is `Applied` only
//! when the committed statement returned its row; an insert answers only
//! once its row is committed. A task appears at most once per statement, so
//! two writers racing for it are decided one after the other. When a
//! batched statement fails, its rows are written again one by one, so that
//! each caller gets its own row's outcome and a bad row fails alone.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, oneshot};

use super::backend::Backend;
use super::row::{TASK_COLUMNS, TaskRow, json};
use super::{Fenced, NewTask, Result, Store, StoreError, now_ms};
use crate::task::TaskResult;

/// Rows per statement and kind: at most 7 parameters each, far below either
/// database's limit.
const MAX_BATCH: usize = 64;

/// A batched write's answer. A failed statement's error is shared.
type Reply<T> = oneshot::Sender<std::result::Result<T, Arc<StoreError>>>;

pub(super) enum Write {
    Complete(Completion),
    Insert(Insertion),
}

pub(super) struct Completion {
    id: String,
    attempt: i64,
    result: String,
    reply: Reply<Fenced>,
}

/// A new task without an idempotency key, its columns ready to bind.
pub(super) struct Insertion {
    id: String,
    provider: String,
    model: String,
    input: String,
    metadata: Option<String>,
    max_attempts: i64,
    timeout_ms: Option<i64>,
    reply: Reply<TaskRow>,
}

impl Write {
    fn completion_id(&self) -> Option<&str> {
        match self {
            Write::Complete(c) => Some(&c.id),
            Write::Insert(_) => None,
        }
    }
}

pub(super) type Queue = mpsc::UnboundedSender<Write>;

/// Starts the batcher of a store. It holds the backend weakly, so that
/// dropping the store still closes the database at once (and releases
/// SQLite's lock file); it ends when the store, which holds the queue, is
/// dropped.
pub(super) fn start(backend: Weak<Backend>) -> Queue {
    let (queue, queued) = mpsc::unbounded_channel();
    tokio::spawn(run(backend, queued));
    queue
}

impl Store {
    /// The one path that writes `completed`.
    pub async fn complete(&self, id: &str, attempt: u32, result: &TaskResult) -> Result<Fenced> {
        let (reply, answer) = oneshot::channel();
        self.send(
            Write::Complete(Completion {
                id: id.to_owned(),
                attempt: i64::from(attempt),
                result: json(result),
                reply,
            }),
            answer,
        )
        .await
    }

    /// Stores a task without an idempotency key; committed when this
    /// returns.
    pub(super) async fn insert_batched(&self, task: &NewTask) -> Result<TaskRow> {
        debug_assert!(task.idempotency.is_none(), "keyed inserts are single-row");
        let (reply, answer) = oneshot::channel();
        self.send(
            Write::Insert(Insertion {
                id: task.id.clone(),
                provider: task.provider.clone(),
                model: task.model.clone(),
                input: json(&task.input),
                metadata: task.metadata.as_ref().map(json),
                max_attempts: i64::from(task.max_attempts),
                timeout_ms: task
                    .timeout_ms
                    .map(|t| i64::try_from(t).unwrap_or(i64::MAX)),
                reply,
            }),
            answer,
        )
        .await
    }

    async fn send<T>(
        &self,
        write: Write,
        answer: oneshot::Receiver<std::result::Result<T, Arc<StoreError>>>,
    ) -> Result<T> {
        self.inner
            .writes
            .send(write)
            .map_err(|_| StoreError::WriterStopped)?;
        match answer.await {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(err)) => Err(StoreError::Batch(err)),
            Err(_) => Err(StoreError::WriterStopped),
        }
    }
}

/// One turn of the batcher: what it writes while it holds the writer.
#[derive(Default)]
struct Turn {
    completions: Vec<Completion>,
    insertions: Vec<Insertion>,
}

/// Writes a turn through `$exec` (an executor expression, evaluated at each
/// statement): the same code for both backends.
macro_rules! write_turn {
    ($exec:expr, $turn:expr, $now:expr) => {{
        let Turn {
            completions,
            insertions,
        } = $turn;
        if !insertions.is_empty() {
            let sql = insert_statement(insertions.len());
            let rows = insert_rows(&sql, &insertions, $now).fetch_all($exec).await;
            match rows {
                Ok(rows) => answer_insertions(insertions, rows),
                Err(err) if insertions.len() == 1 => fail_all(insertions, err, |i| i.reply),
                Err(_) => {
                    let sql = insert_statement(1);
                    for one in insertions {
                        let rows = insert_rows(&sql, std::slice::from_ref(&one), $now)
                            .fetch_all($exec)
                            .await;
                        match rows {
                            Ok(rows) => answer_insertions(vec![one], rows),
                            Err(err) => fail_all(vec![one], err, |i| i.reply),
                        }
                    }
                }
            }
        }
        if !completions.is_empty() {
            let sql = completion_statement(completions.len());
            let ids = complete_rows(&sql, &completions, $now)
                .fetch_all($exec)
                .await;
            match ids {
                Ok(ids) => answer_completions(completions, ids),
                Err(err) if completions.len() == 1 => fail_all(completions, err, |c| c.reply),
                Err(_) => {
                    let sql = completion_statement(1);
                    for one in completions {
                        let ids = complete_rows(&sql, std::slice::from_ref(&one), $now)
                            .fetch_all($exec)
                            .await;
                        match ids {
                            Ok(ids) => answer_completions(vec![one], ids),
                            Err(err) => fail_all(vec![one], err, |c| c.reply),
                        }
                    }
                }
            }
        }
    }};
}

async fn run(backend: Weak<Backend>, mut queued: mpsc::UnboundedReceiver<Write>) {
    // Writes left out of the last turn (a task already in it, or its kind's
    // statement full): they go first into the next.
    let mut deferred = VecDeque::new();
    loop {
        let first = match deferred.pop_front() {
            Some(write) => write,
            None => match queued.recv().await {
                Some(write) => write,
                None => return,
            },
        };
        let Some(backend) = backend.upgrade() else {
            // The store is gone; whoever still waits hears so.
            return;
        };
        // Gathered only once the writer is ours: everything that queued
        // while it was busy joins this turn.
        match &*backend {
            Backend::Sqlite(b) => {
                let mut writer = b.writer.lock().await;
                let turn = gather(first, &mut queued, &mut deferred);
                write_turn!(&mut *writer, turn, now_ms());
            }
            Backend::Postgres(b) => {
                let turn = gather(first, &mut queued, &mut deferred);
                write_turn!(&b.pool, turn, now_ms());
            }
        }
    }
}

/// `first`, then the deferred and newly queued writes, up to `MAX_BATCH`
/// of each kind, each task's completion at most once.
fn gather(
    first: Write,
    queued: &mut mpsc::UnboundedReceiver<Write>,
    deferred: &mut VecDeque<Write>,
) -> Turn {
    let mut turn = Turn::default();
    let mut later = VecDeque::new();
    let mut next = Some(first);
    // Bounded, so that a flood of one task's completions cannot hold the
    // writer here.
    for _ in 0..MAX_BATCH * 4 {
        let Some(write) = next.take() else { break };
        let taken = write
            .completion_id()
            .is_some_and(|id| turn.completions.iter().any(|c| c.id == id));
        match write {
            Write::Complete(c) if !taken && turn.completions.len() < MAX_BATCH => {
                turn.completions.push(c)
            }
            Write::Insert(i) if turn.insertions.len() < MAX_BATCH => turn.insertions.push(i),
            other => later.push_back(other),
        }
        if turn.completions.len() == MAX_BATCH && turn.insertions.len() == MAX_BATCH {
            break;
        }
        next = deferred.pop_front().or_else(|| queued.try_recv().ok());
    }
    later.extend(next);
    // `later` holds what was looked at, all older than what is left.
    later.append(deferred);
    *deferred = later;
    turn
}

/// The multi-row INSERT of `rows` new tasks: `$1` is the time, then 7
/// columns a row.
fn insert_statement(rows: usize) -> String {
    let values = (0..rows)
        .map(|i| {
            let p = 7 * i + 2;
            format!(
                "(${p}, 'pending', ${}, ${}, ${}, ${}, ${}, ${}, $1, $1, $1)",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO tasks (id, status, provider, model, input, metadata, max_attempts, \
             timeout_ms, run_at, created_at, updated_at) \
         VALUES {values} RETURNING {TASK_COLUMNS}"
    )
}

fn insert_rows<'q, DB: sqlx::Database>(
    sql: &'q str,
    rows: &'q [Insertion],
    now: i64,
) -> sqlx::query::QueryAs<'q, DB, TaskRow, <DB as sqlx::Database>::Arguments<'q>>
where
    TaskRow: for<'r> sqlx::FromRow<'r, DB::Row>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::query_as(sql).bind(now);
    for row in rows {
        query = query
            .bind(row.id.as_str())
            .bind(row.provider.as_str())
            .bind(row.model.as_str())
            .bind(row.input.as_str())
            .bind(row.metadata.as_deref())
            .bind(row.max_attempts)
            .bind(row.timeout_ms);
    }
    query
}

/// The fenced UPDATE of `rows` completions: `$1` is the time, then id,
/// attempt and result per row. The casts give the VALUES columns their types
/// on PostgreSQL (SQLite accepts them); both name them column1..3.
fn completion_statement(rows: usize) -> String {
    let values = (0..rows)
        .map(|i| {
            let p = 3 * i + 2;
            format!(
                "(CAST(${p} AS TEXT), CAST(${} AS BIGINT), CAST(${} AS TEXT))",
                p + 1,
                p + 2
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE tasks SET status = 'completed', result = v.column3, error_code = NULL, \
             error_message = NULL, lease_owner = NULL, lease_expires_at = NULL, \
             completed_at = $1, updated_at = $1 \
         FROM (VALUES {values}) AS v \
         WHERE tasks.id = v.column1 AND tasks.status = 'running' AND tasks.attempts = v.column2 \
         RETURNING tasks.id"
    )
}

fn complete_rows<'q, DB: sqlx::Database>(
    sql: &'q str,
    rows: &'q [Completion],
    now: i64,
) -> sqlx::query::QueryScalar<'q, DB, String, <DB as sqlx::Database>::Arguments<'q>>
where
    (String,): for<'r> sqlx::FromRow<'r, DB::Row>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::query_scalar(sql).bind(now);
    for row in rows {
        query = query
            .bind(row.id.as_str())
            .bind(row.attempt)
            .bind(row.result.as_str());
    }
    query
}

/// Each new task gets its own stored row.
fn answer_insertions(insertions: Vec<Insertion>, mut rows: Vec<TaskRow>) {
    for insertion in insertions {
        let row = match rows.iter().position(|r| r.id == insertion.id) {
            Some(at) => Ok(rows.swap_remove(at)),
            None => Err(Arc::new(StoreError::Corrupt {
                id: insertion.id.clone(),
                reason: "a batched insert did not return its row".into(),
            })),
        };
        // A caller that stopped waiting needs no answer.
        let _ = insertion.reply.send(row);
    }
}

/// `Applied` exactly for the completions whose id the statement returned.
fn answer_completions(completions: Vec<Completion>, ids: Vec<String>) {
    for c in completions {
        let fenced = if ids.contains(&c.id) {
            Fenced::Applied
        } else {
            Fenced::Lost
        };
        let _ = c.reply.send(Ok(fenced));
    }
}

fn fail_all<W, T>(writes: Vec<W>, err: sqlx::Error, reply: impl Fn(W) -> Reply<T>) {
    let err = Arc::new(StoreError::from(err));
    for write in writes {
        let _ = reply(write).send(Err(err.clone()));
    }
}
