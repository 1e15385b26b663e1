//! How writes share statements under load: mechanism only, no SQL and no
//! status of its own. Two edges of the state machine queue their rows here
//! (completions and inserts without an idempotency key; their statements
//! are in `transitions`), and so do the ledger rows of `/v1` calls made
//! without a tenant key (their statement is in `usage.rs`), because under
//! load many attempts finish, many submissions arrive and many calls end
//! at once, and on SQLite each statement is a serial round trip to the one
//! writer connection. One batcher task writes
//! everything queued by the time it holds the writer in one statement per
//! kind. An idle store writes at once: the batcher never waits for company,
//! with one exception: a keyless call's row queued *after* its answer
//! (`record_later`), which nobody waits for, waits up to the configured
//! delay for others (or for any other write) so that one statement and
//! one commit carry many of them; `flush` writes whatever is queued.
//!
//! What each caller hears is what a single-row statement would have told
//! it: the row its statement returned for it, if any, and only after the
//! statement committed. A task's completion appears at most once per
//! statement, so two writers racing for it are decided one after the
//! other. When a batched statement fails, its rows are written again one by
//! one, so that each caller gets its own row's outcome and a bad row fails
//! alone.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::backend::Backend;
use crate::liveness::on_postgres;
use crate::placeholders::Placeholders;
use crate::row::TaskRow;
use crate::transitions::{
    Completion, Insertion, bind_completions, bind_insertions, completion_statement,
    insert_statement,
};
use crate::usage::{CallUsage, bind_records, record_statement};
use crate::{Result, StoreError, now_ms};

/// Rows per statement and kind: at most 11 parameters each, far below
/// either database's limit (32,766 and 65,535).
const MAX_BATCH: usize = 64;

/// A queued row and where its answer goes: the row its statement returned
/// for it (`None`: the statement's guard refused it), or the statement's
/// error, shared by every row in it.
struct Queued<W, R> {
    write: W,
    reply: oneshot::Sender<std::result::Result<Option<R>, Arc<StoreError>>>,
}

enum Write {
    /// Answered with the completed task's id.
    Complete(Queued<Completion, String>),
    Insert(Queued<Insertion, TaskRow>),
    /// A keyless `/v1` call's ledger row; answered `Some(())` once
    /// committed.
    Record(Queued<CallUsage, ()>),
    /// A keyless `/v1` call's ledger row queued after its answer: nobody
    /// waits for it, so it may wait for company; a failure is logged.
    RecordLater(CallUsage),
    /// Answered once everything queued before it has been written (or
    /// failed).
    Flush(oneshot::Sender<()>),
}

/// What a statement's rows and returned rows are matched by.
trait TaskId {
    fn task_id(&self) -> &str;
}

impl TaskId for Completion {
    fn task_id(&self) -> &str {
        &self.id
    }
}

impl TaskId for Insertion {
    fn task_id(&self) -> &str {
        &self.id
    }
}

impl TaskId for String {
    fn task_id(&self) -> &str {
        self
    }
}

impl TaskId for TaskRow {
    fn task_id(&self) -> &str {
        &self.id
    }
}

/// The handle the store queues its batched writes through.
pub(crate) struct Batcher {
    queue: mpsc::UnboundedSender<Write>,
    /// How long a `record_later` row may wait for company, in
    /// microseconds (shared with the batcher task).
    delay_us: Arc<AtomicU64>,
}

/// How long a `record_later` row waits for company unless the server says
/// otherwise (`--usage-write-delay-ms`).
pub(crate) const DEFAULT_RECORD_DELAY: Duration = Duration::from_millis(50);

impl Batcher {
    /// Starts the batcher of a store. It holds the backend weakly, so that
    /// dropping the store still closes the database at once (and releases
    /// SQLite's lock file); it ends when the store, which holds this
    /// handle, is dropped.
    pub(crate) fn start(backend: Weak<Backend>) -> Self {
        let (queue, queued) = mpsc::unbounded_channel();
        let delay_us = Arc::new(AtomicU64::new(micros(DEFAULT_RECORD_DELAY)));
        tokio::spawn(run(backend, queued, delay_us.clone()));
        Self { queue, delay_us }
    }

    /// How long a row queued by `record_later` may wait for others.
    pub(crate) fn set_record_delay(&self, delay: Duration) {
        self.delay_us.store(micros(delay), Ordering::Relaxed);
    }

    /// Writes a completion with others; `Some` (its id) when its row was
    /// applied.
    pub(crate) async fn complete(&self, completion: Completion) -> Result<Option<String>> {
        self.send(|reply| {
            Write::Complete(Queued {
                write: completion,
                reply,
            })
        })
        .await
    }

    /// Writes a new task with others; its stored row, once committed.
    pub(crate) async fn insert(&self, insertion: Insertion) -> Result<Option<TaskRow>> {
        self.send(|reply| {
            Write::Insert(Queued {
                write: insertion,
                reply,
            })
        })
        .await
    }

    /// Writes a `/v1` call's ledger row with others; returns once it is
    /// committed.
    pub(crate) async fn record(&self, usage: CallUsage) -> Result<()> {
        self.send(|reply| {
            Write::Record(Queued {
                write: usage,
                reply,
            })
        })
        .await
        .map(drop)
    }

    /// Queues a keyless `/v1` call's ledger row without waiting for it: it
    /// is written within the record delay, with whatever else is queued
    /// by then; a failure is logged.
    pub(crate) fn record_later(&self, usage: CallUsage) -> Result<()> {
        self.queue
            .send(Write::RecordLater(usage))
            .map_err(|_| StoreError::WriterStopped)
    }

    /// Returns once everything queued before it has been written.
    pub(crate) async fn flush(&self) -> Result<()> {
        let (done, written) = oneshot::channel();
        self.queue
            .send(Write::Flush(done))
            .map_err(|_| StoreError::WriterStopped)?;
        written.await.map_err(|_| StoreError::WriterStopped)
    }

    async fn send<R>(
        &self,
        write: impl FnOnce(oneshot::Sender<std::result::Result<Option<R>, Arc<StoreError>>>) -> Write,
    ) -> Result<Option<R>> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(write(reply))
            .map_err(|_| StoreError::WriterStopped)?;
        match answer.await {
            Ok(Ok(row)) => Ok(row),
            Ok(Err(err)) => Err(StoreError::Batch(err)),
            Err(_) => Err(StoreError::WriterStopped),
        }
    }
}

/// One turn of the batcher: what it writes while it holds the writer.
#[derive(Default)]
struct Turn {
    completions: Vec<Queued<Completion, String>>,
    insertions: Vec<Queued<Insertion, TaskRow>>,
    records: Vec<Queued<CallUsage, ()>>,
    /// The answers of this turn's `record_later` rows, which nobody else
    /// hears: a failure is logged from here.
    unheard: Vec<Unheard>,
    flushes: Vec<oneshot::Sender<()>>,
}

type Unheard = oneshot::Receiver<std::result::Result<Option<()>, Arc<StoreError>>>;

/// After a turn's statements: logs each `record_later` row that was not
/// written, and answers the flushes (everything queued before them is
/// done).
fn end_turn(unheard: Vec<Unheard>, flushes: Vec<oneshot::Sender<()>>) {
    let failed: Vec<Arc<StoreError>> = unheard
        .into_iter()
        .filter_map(|mut answer| answer.try_recv().ok()?.err())
        .collect();
    if let Some(err) = failed.first() {
        tracing::error!(
            rows = failed.len(),
            "usage of /v1 calls made without a key was not recorded: {err}"
        );
    }
    for flush in flushes {
        let _ = flush.send(());
    }
}

fn micros(delay: Duration) -> u64 {
    u64::try_from(delay.as_micros()).unwrap_or(u64::MAX)
}

/// Writes one kind's rows of a turn: `$statement(n, $placeholders)` is the
/// SQL for `n` rows, `$bind` binds them to a query, `|q| fetch` runs query `q`
/// (evaluated at each statement) to a `Result` of its returned rows, and
/// `$answer` tells each caller what came back (`answer` by task id for
/// the state machine's rows, `answer_all` for ledger rows, which return
/// nothing). The same code for both backends.
macro_rules! write_rows {
    (|$q:ident| $fetch:expr, $rows:expr, $now:expr, $statement:path, $placeholders:expr, $bind:path) => {
        write_rows!(
            |$q| $fetch,
            $rows,
            $now,
            $statement,
            $placeholders,
            $bind,
            answer
        )
    };
    (|$q:ident| $fetch:expr, $rows:expr, $now:expr, $statement:path, $placeholders:expr, $bind:path, $answer:path) => {{
        let rows = $rows;
        if !rows.is_empty() {
            let sql = $statement(rows.len(), $placeholders);
            let returned = {
                let $q = $bind(&sql, rows.iter().map(|q| &q.write), $now);
                $fetch
            };
            match returned {
                Ok(returned) => $answer(rows, returned),
                Err(err) if rows.len() == 1 => fail_all(rows, err),
                // A statement the database did not answer fails its rows
                // together: one by one, each would wait out a deadline.
                Err(err) if err.outage().is_some() => fail_all(rows, err),
                Err(_) => {
                    let sql = $statement(1, $placeholders);
                    for one in rows {
                        let returned = {
                            let $q = $bind(&sql, std::iter::once(&one.write), $now);
                            $fetch
                        };
                        match returned {
                            Ok(returned) => $answer(vec![one], returned),
                            Err(err) => fail_all(vec![one], err),
                        }
                    }
                }
            }
        }
    }};
}

async fn run(
    backend: Weak<Backend>,
    mut queued: mpsc::UnboundedReceiver<Write>,
    delay_us: Arc<AtomicU64>,
) {
    // Writes left out of the last turn (a task already in it, or its kind's
    // statement full): they go first into the next.
    let mut deferred = VecDeque::new();
    loop {
        let first = match deferred.pop_front() {
            Some(write) => write,
            None => match queued.recv().await {
                Some(Write::RecordLater(row)) => {
                    let delay = Duration::from_micros(delay_us.load(Ordering::Relaxed));
                    wait_for_company(row, delay, &mut queued, &mut deferred).await
                }
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
                const PLACEHOLDERS: Placeholders = Placeholders::Anonymous;
                let mut writer = b.writer.lock().await;
                let turn = gather(first, &mut queued, &mut deferred);
                let now = now_ms();
                write_rows!(
                    |q| q.fetch_all(&mut *writer).await.map_err(StoreError::from),
                    turn.insertions,
                    now,
                    insert_statement,
                    PLACEHOLDERS,
                    bind_insertions
                );
                write_rows!(
                    |q| q.fetch_all(&mut *writer).await.map_err(StoreError::from),
                    turn.completions,
                    now,
                    completion_statement,
                    PLACEHOLDERS,
                    bind_completions
                );
                write_rows!(
                    |q| q
                        .execute(&mut *writer)
                        .await
                        .map(drop)
                        .map_err(StoreError::from),
                    turn.records,
                    now,
                    record_statement,
                    PLACEHOLDERS,
                    bind_records,
                    answer_all
                );
                drop(writer);
                end_turn(turn.unheard, turn.flushes);
            }
            Backend::Postgres(b) => {
                const PLACEHOLDERS: Placeholders = Placeholders::Numbered;
                let turn = gather(first, &mut queued, &mut deferred);
                let now = now_ms();
                // The kinds' statements run at once, each on its own pooled
                // connection: no row of one kind depends on another's in
                // the same turn (a task is claimed, so completed, only
                // after its insert committed), and PostgreSQL then flushes
                // their commits to the WAL together instead of one after
                // the other. Turns still follow one another.
                let (insertions, completions, records) =
                    (turn.insertions, turn.completions, turn.records);
                tokio::join!(
                    async {
                        write_rows!(
                            |q| on_postgres!(&b.pool, |conn| q.fetch_all(conn).await?),
                            insertions,
                            now,
                            insert_statement,
                            PLACEHOLDERS,
                            bind_insertions
                        );
                    },
                    async {
                        write_rows!(
                            |q| on_postgres!(&b.pool, |conn| q.fetch_all(conn).await?),
                            completions,
                            now,
                            completion_statement,
                            PLACEHOLDERS,
                            bind_completions
                        );
                    },
                    async {
                        write_rows!(
                            |q| on_postgres!(&b.pool, |conn| {
                                q.execute(conn).await?;
                            }),
                            records,
                            now,
                            record_statement,
                            PLACEHOLDERS,
                            bind_records,
                            answer_all
                        );
                    },
                );
                end_turn(turn.unheard, turn.flushes);
            }
        }
    }
}

/// The first write of a turn when it is a `record_later` row: it waits
/// until `MAX_BATCH` such rows are queued, another kind of write (or a
/// flush) arrives, or `delay` has passed, so that its turn carries them
/// all. Idle, nothing waits: this runs only with a row in hand.
async fn wait_for_company(
    first: CallUsage,
    delay: Duration,
    queued: &mut mpsc::UnboundedReceiver<Write>,
    deferred: &mut VecDeque<Write>,
) -> Write {
    let until = tokio::time::Instant::now() + delay;
    let mut rows = 1;
    while rows < MAX_BATCH {
        match tokio::time::timeout_at(until, queued.recv()).await {
            Ok(Some(Write::RecordLater(row))) => {
                deferred.push_back(Write::RecordLater(row));
                rows += 1;
            }
            Ok(Some(other)) => {
                deferred.push_back(other);
                break;
            }
            Ok(None) | Err(_) => break,
        }
    }
    Write::RecordLater(first)
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
        match write {
            Write::Complete(c)
                if turn.completions.len() < MAX_BATCH
                    && !turn.completions.iter().any(|t| t.write.id == c.write.id) =>
            {
                turn.completions.push(c)
            }
            Write::Insert(i) if turn.insertions.len() < MAX_BATCH => turn.insertions.push(i),
            Write::Record(r) if turn.records.len() < MAX_BATCH => turn.records.push(r),
            Write::RecordLater(row) if turn.records.len() < MAX_BATCH => {
                let (reply, answer) = oneshot::channel();
                turn.records.push(Queued { write: row, reply });
                turn.unheard.push(answer);
            }
            // Answered at the end of this turn only when nothing before it
            // was left for the next.
            Write::Flush(done) if later.is_empty() => turn.flushes.push(done),
            other => later.push_back(other),
        }
        if turn.completions.len() == MAX_BATCH
            && turn.insertions.len() == MAX_BATCH
            && turn.records.len() == MAX_BATCH
        {
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

/// Each caller hears the row its statement returned for its task, if any.
fn answer<W: TaskId, R: TaskId>(rows: Vec<Queued<W, R>>, mut returned: Vec<R>) {
    for row in rows {
        let mine = returned
            .iter()
            .position(|r| r.task_id() == row.write.task_id())
            .map(|at| returned.swap_remove(at));
        // A caller that stopped waiting needs no answer.
        let _ = row.reply.send(Ok(mine));
    }
}

/// Every row of a statement that committed was written: its caller hears so.
fn answer_all<W>(rows: Vec<Queued<W, ()>>, (): ()) {
    for row in rows {
        let _ = row.reply.send(Ok(Some(())));
    }
}

fn fail_all<W, R>(rows: Vec<Queued<W, R>>, err: StoreError) {
    let err = Arc::new(err);
    for row in rows {
        let _ = row.reply.send(Err(err.clone()));
    }
}
