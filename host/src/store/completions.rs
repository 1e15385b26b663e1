//! Completions written in batches. Under load many attempts finish at once,
//! and on SQLite each statement is a serial round trip to the one writer
//! connection; so `Store::complete` hands its write to one batcher task,
//! which writes every completion queued by the time it holds the writer in
//! ONE statement. Each row in it stays fenced by its own attempt exactly as
//! the single-row UPDATE was, and a caller hears `Applied` only when the
//! committed statement returned its row. An idle store writes a completion
//! at once: the batcher never waits for company.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, oneshot};

use super::backend::{Backend, on_writer};
use super::row::json;
use super::{Fenced, Result, Store, StoreError, now_ms};
use crate::task::TaskResult;

/// Rows per statement: 3 parameters each, far below either database's limit.
const MAX_BATCH: usize = 64;

/// The batcher's answer to one completion. The error is shared by every
/// completion of the statement that failed.
type Reply = std::result::Result<Fenced, Arc<StoreError>>;

pub(super) struct Completion {
    id: String,
    attempt: i64,
    result: String,
    reply: oneshot::Sender<Reply>,
}

pub(super) type Queue = mpsc::UnboundedSender<Completion>;

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
        let completion = Completion {
            id: id.to_owned(),
            attempt: i64::from(attempt),
            result: json(result),
            reply,
        };
        self.inner
            .completions
            .send(completion)
            .map_err(|_| StoreError::WriterStopped)?;
        match answer.await {
            Ok(Ok(fenced)) => Ok(fenced),
            Ok(Err(err)) => Err(StoreError::Batch(err)),
            Err(_) => Err(StoreError::WriterStopped),
        }
    }
}

async fn run(backend: Weak<Backend>, mut queued: mpsc::UnboundedReceiver<Completion>) {
    // Completions whose task already had one in the batch being gathered:
    // they go first into the next.
    let mut deferred = VecDeque::new();
    loop {
        let first = match deferred.pop_front() {
            Some(completion) => completion,
            None => match queued.recv().await {
                Some(completion) => completion,
                None => return,
            },
        };
        let Some(backend) = backend.upgrade() else {
            // The store is gone; whoever still waits hears so.
            return;
        };
        // Gathered only once the writer is ours: everything that queued
        // while it was busy joins this statement.
        let (batch, written) = on_writer!(&*backend, |pool| {
            let batch = gather(first, &mut queued, &mut deferred);
            let sql = statement(batch.len());
            let mut query = sqlx::query_scalar::<_, String>(&sql).bind(now_ms());
            for c in &batch {
                query = query.bind(&c.id).bind(c.attempt).bind(&c.result);
            }
            let written = query.fetch_all(pool).await;
            (batch, written)
        });
        match written {
            Ok(ids) => {
                for c in batch {
                    let applied = ids.contains(&c.id);
                    // A caller that stopped waiting needs no answer.
                    let _ = c.reply.send(Ok(if applied {
                        Fenced::Applied
                    } else {
                        Fenced::Lost
                    }));
                }
            }
            Err(err) => {
                let err = Arc::new(StoreError::from(err));
                for c in batch {
                    let _ = c.reply.send(Err(err.clone()));
                }
            }
        }
    }
}

/// `first`, then the deferred and newly queued completions, up to
/// `MAX_BATCH`. A task appears at most once per statement: two writers
/// racing for it are decided one statement after the other, so exactly one
/// can win, as with single-row writes.
fn gather(
    first: Completion,
    queued: &mut mpsc::UnboundedReceiver<Completion>,
    deferred: &mut VecDeque<Completion>,
) -> Vec<Completion> {
    let mut batch = vec![first];
    let mut later = VecDeque::new();
    // Bounded, so that a flood of one task's completions cannot hold the
    // writer here.
    for _ in 0..MAX_BATCH * 2 {
        if batch.len() == MAX_BATCH {
            break;
        }
        let next = match deferred.pop_front() {
            Some(completion) => completion,
            None => match queued.try_recv() {
                Ok(completion) => completion,
                Err(_) => break,
            },
        };
        if batch.iter().any(|c| c.id == next.id) {
            later.push_back(next);
        } else {
            batch.push(next);
        }
    }
    // `later` holds what was looked at, all older than what is left.
    later.append(deferred);
    *deferred = later;
    batch
}

/// The fenced UPDATE of `rows` completions: `$1` is the time, then id,
/// attempt and result per row. The casts give the VALUES columns their types
/// on PostgreSQL (SQLite accepts them); both name them column1..3.
fn statement(rows: usize) -> String {
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
