//! The status store: the one transactional record of every task, shared by
//! the API and the workers. Owns all SQL. Every transition is one conditional
//! UPDATE; a worker's writes are fenced by the `attempt` its claim returned.
//! SQLite is the embedded default; PostgreSQL serves many processes.
//!
//! It depends on nothing else of llmhost: `task` (the task as every layer
//! sees it) and `error_code` (the one error table) live here because the
//! store persists them.

pub mod error_code;
pub mod task;
#[doc(hidden)]
pub mod testing;

mod backend;
mod batch;
mod deltas;
mod postgres;
mod reads;
mod row;
mod sqlite;
mod transitions;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::task::{Task, TaskInput, TaskStatus};
use backend::Backend;
pub use deltas::Delta;

/// A task as submitted, before it is stored.
#[derive(Clone, Debug)]
pub struct NewTask {
    pub id: String,
    pub provider: String,
    pub model: String,
    pub input: TaskInput,
    pub metadata: Option<serde_json::Value>,
    pub max_attempts: u32,
    pub timeout_ms: Option<u64>,
    /// The client's `Idempotency-Key` and a hash of its request, if given.
    pub idempotency: Option<Idempotency>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    pub key: String,
    pub request_hash: String,
}

/// What an insert did.
#[derive(Clone, Debug, PartialEq)]
pub enum Inserted {
    /// A new task was stored.
    Created(Task),
    /// The idempotency key was used before for the same request: this is
    /// that task, and nothing new was stored.
    Existing(Task),
    /// The idempotency key was used before for a different request.
    KeyConflict(Task),
}

/// What a worker holds after a successful claim. `attempt` is its fencing
/// token: every later write for this task must present it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimedTask {
    pub id: String,
    pub attempt: u32,
    pub max_attempts: u32,
    pub provider: String,
    pub model: String,
    pub input: TaskInput,
    pub timeout_ms: Option<u64>,
    /// When the task became claimable (Unix ms): claim latency starts here.
    pub due_at_ms: i64,
}

/// The outcome of a fenced write.
#[must_use = "a Lost write means the result must be dropped"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fenced {
    /// The row was running under this attempt and now holds the write.
    Applied,
    /// The task is no longer running under this attempt (taken over by a
    /// rescuer or another worker, cancelled, or already finished): the writer
    /// lost the task and nothing was written.
    Lost,
}

impl Fenced {
    fn from_rows(rows: u64) -> Self {
        if rows == 1 { Self::Applied } else { Self::Lost }
    }
}

/// A heartbeat's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heartbeat {
    /// The lease was extended; go on.
    Extended,
    /// The lease was extended, but a client asked to cancel: stop the call
    /// and record `cancelled`.
    CancelRequested,
    /// The task is no longer ours.
    Lost,
}

/// What a cancel request did.
#[derive(Clone, Debug, PartialEq)]
pub enum Cancel {
    /// The task was pending and is now `cancelled`.
    Cancelled(Task),
    /// The task is running; its worker was asked to stop and will record
    /// `cancelled`.
    Requested(Task),
    /// The task had already finished; nothing changed.
    AlreadyFinished(Task),
    NotFound,
}

/// Which of a cancel's statements changed the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CancelWrite {
    Cancelled,
    Requested,
    Neither,
}

/// Filters and position for listing tasks, newest first.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub status: Option<TaskStatus>,
    pub provider: Option<String>,
    pub limit: u32,
    /// Only tasks older than this cursor (from a previous page).
    pub cursor: Option<i64>,
}

/// One page of a listing.
#[derive(Clone, Debug)]
pub struct Page {
    pub tasks: Vec<Task>,
    /// Present when more tasks may follow.
    pub next_cursor: Option<i64>,
}

/// What rescuing expired leases did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rescued {
    pub requeued: u64,
    pub failed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("stored task {id} is unreadable: {reason}")]
    Corrupt { id: String, reason: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A batched statement failed; every write in it shares this error.
    #[error("{0}")]
    Batch(Arc<StoreError>),
    #[error("the store's write batcher stopped before answering")]
    WriterStopped,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The store handle: cheap to clone, shared by the API and the workers.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// Shared with the write batcher, which holds it weakly.
    backend: Arc<Backend>,
    signals: Arc<Signals>,
    writes: batch::Queue,
}

/// In-process wake-ups. With PostgreSQL they are also raised by
/// notifications from other processes.
#[derive(Default)]
pub(crate) struct Signals {
    /// A task may have become claimable.
    pub work: Notify,
    /// A client asked to cancel a running task.
    pub cancel: Notify,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`:
    /// `sqlite://PATH` or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Self> {
        let signals = Arc::new(Signals::default());
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(sqlite::connect(url).await?)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres(postgres::connect(url, signals.clone()).await?)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let backend = Arc::new(backend);
        let writes = batch::start(Arc::downgrade(&backend));
        Ok(Self {
            inner: Arc::new(Inner {
                backend,
                signals,
                writes,
            }),
        })
    }

    /// Whether this store belongs to one process alone (the embedded
    /// database), so that no other process can hold a lease in it.
    pub fn is_single_process(&self) -> bool {
        matches!(*self.inner.backend, Backend::Sqlite(_))
    }

    /// Resolves when a task may have become claimable. Create (and
    /// `enable`) the future before claiming, so that no wake-up is missed.
    pub fn work_signal(&self) -> &Notify {
        &self.inner.signals.work
    }

    /// Resolves when a client asked to cancel some running task.
    pub fn cancel_signal(&self) -> &Notify {
        &self.inner.signals.cancel
    }

    fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    fn wake_workers(&self) {
        self.inner.signals.work.notify_waiters();
    }
}

/// The store's clock: Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests;

/// Turns `limit + 1` rows (newest first) into a page and its cursor.
fn page(mut rows: Vec<row::TaskRow>, limit: u32) -> Result<Page> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| r.seq)
    } else {
        None
    };
    let tasks = rows
        .into_iter()
        .map(Task::try_from)
        .collect::<Result<_>>()?;
    Ok(Page { tasks, next_cursor })
}

/// Counts the statuses a rescue statement returned.
fn count_rescued<'a>(statuses: impl Iterator<Item = &'a str>) -> Rescued {
    statuses.fold(Rescued::default(), |mut r, status| {
        if status == "pending" {
            r.requeued += 1;
        } else {
            r.failed += 1;
        }
        r
    })
}
