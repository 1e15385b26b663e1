//! The status store: the one transactional record of every task, shared by
//! the API and the workers. Owns all SQL. SQLite is the embedded default;
//! PostgreSQL serves many processes.
//!
//! Its surface, by file:
//! - `task.rs`: the task as every layer sees it, and the state machine its
//!   status follows (`TaskStatus::TRANSITIONS`: every edge, who moves it,
//!   which method writes it);
//! - `transitions/`: every write that changes a status, one conditional
//!   statement each, a worker's fenced by the attempt its claim returned:
//!   `insert`, `claim_batch`, `complete`, `fail`, `retry`, `release`,
//!   `record_cancelled`, `cancel`, `rescue_expired`,
//!   `recover_after_restart`; and the lease's `heartbeat`, which moves
//!   nothing;
//! - `reads.rs`: `get`, `list` and the counts; `overview.rs`: throughput,
//!   failures and latency over a recent window; nothing there writes;
//! - `deltas.rs`: what running attempts stream (text, reasoning, refusal,
//!   tool-call pieces), fenced like a worker's writes; not a status;
//! - `batch.rs`: how completions and keyless inserts share statements under
//!   load (mechanism only: their SQL is in `transitions/`);
//! - `backend.rs`, `sqlite.rs`, `postgres.rs`, `row.rs`: the two databases
//!   and how a task is laid out in a row;
//! - `liveness.rs`, `breaker.rs`: PostgreSQL statements under a deadline,
//!   frozen connections dropped and the pool renewed; failing fast while
//!   the database is known to be down;
//! - `keys.rs`: tenants' API keys (only a hash of each), their scope and
//!   limits; `admission.rs`: a tenant's task or `/v1` call admitted
//!   against its key's limits in one transaction that locks the key;
//! - `usage.rs`: the usage ledger (a completed attempt recorded by the
//!   database in its completing statement, a `/v1` call by `record_call`)
//!   and its reports;
//! - `outage.rs`: which errors mean "the database cannot serve now, retry
//!   later" (`StoreError::outage`), as opposed to a bug; `probe.rs`:
//!   whether the store can commit now (`probe_commit`).
//!
//! It depends on nothing else of llmhost: `task` and `error_code` (the one
//! error table) live here because the store persists them.

pub mod admission;
pub mod error_code;
pub mod keys;
pub mod task;
#[doc(hidden)]
pub mod testing;
pub mod usage;

mod backend;
mod batch;
mod breaker;
mod conversation;
mod deltas;
mod liveness;
mod outage;
mod overview;
mod placeholders;
mod postgres;
mod probe;
mod reads;
mod row;
mod sqlite;
mod transitions;
mod writer;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::task::{Task, TaskInput, TaskStatus};
use backend::Backend;
pub use deltas::{Delta, DeltaKind};
pub use outage::Outage;
pub use overview::{Bucket, Overview, OverviewQuery, ProviderStats};

/// A task as submitted, before it is stored.
#[derive(Clone, Debug)]
pub struct NewTask {
    pub id: String,
    pub provider: String,
    pub model: String,
    /// The alias of the route the task runs over (`provider` and `model`
    /// hold it too), or `None` for a task naming its provider.
    pub route: Option<String>,
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
    /// The route's alias, for a task over a route.
    pub route: Option<String>,
    /// What earlier attempts tried; the next outcome's write replaces it
    /// with this plus what this attempt tried.
    pub attempt_log: Vec<task::AttemptRecord>,
    pub input: TaskInput,
    pub timeout_ms: Option<u64>,
    /// When the task became claimable (Unix ms): claim latency starts here.
    pub due_at_ms: i64,
}

/// What a worker's fenced write did (`complete`, `fail`, `release`,
/// `record_cancelled`, `append_deltas`).
#[must_use = "a Lost write means the result must be dropped"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fenced {
    /// The row was running under this attempt and now holds the write.
    Applied,
    /// The task is no longer running under this attempt (taken over by a
    /// rescuer or another worker, cancelled, or already finished): the writer
    /// lost the task and nothing was written. (`record_cancelled` also
    /// answers this when no cancel was requested, which its caller never
    /// does: it records a cancel only after hearing of one.)
    Lost,
}

impl Fenced {
    fn from_rows(rows: u64) -> Self {
        if rows == 1 { Self::Applied } else { Self::Lost }
    }
}

/// What `Store::retry` did. Only `Scheduled` wrote anything; each other
/// answer names the end the worker records instead.
#[must_use = "a refused retry leaves the task running: record its end"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// The task is `pending` again, due after the delay.
    Scheduled,
    /// A client asked to cancel the task: the worker records `cancelled`
    /// (`record_cancelled`).
    CancelRequested,
    /// The attempts are used up: the worker records `failed` (`fail`). The
    /// worker's retry rule checks this first; the statement checks it again
    /// as a fence.
    AttemptsUsedUp,
    /// The task no longer runs under this attempt: nothing is written.
    Lost,
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

/// Filters and position for listing tasks, newest first. Each filter
/// given narrows the list (they combine with AND).
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub status: Option<TaskStatus>,
    pub provider: Option<String>,
    /// Only the tasks over this route (their `provider` holds the alias
    /// too, so the provider's index finds them; `route` tells them from an
    /// instance's tasks).
    pub route: Option<String>,
    /// Only the tasks this API key submitted.
    pub key_id: Option<String>,
    pub model: Option<String>,
    pub error_code: Option<String>,
    /// Only tasks created at or after this time (Unix ms).
    pub created_from: Option<i64>,
    /// Only tasks created before this time (Unix ms).
    pub created_to: Option<i64>,
    /// Only the task with this id or this `Idempotency-Key` (exact).
    pub search: Option<String>,
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

/// What rescuing expired leases did: how many tasks went where.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rescued {
    /// Back to `pending`: attempts were left.
    pub requeued: u64,
    /// To `failed` (`lease_expired`): the attempts were used up.
    pub failed: u64,
    /// To `cancelled`: a client had asked.
    pub cancelled: u64,
}

impl Rescued {
    /// Every task whose lease expired.
    pub fn total(&self) -> u64 {
        self.requeued + self.failed + self.cancelled
    }
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
    /// A statement or a connection outlived its deadline.
    #[error("the database did not answer within {} ms", after.as_millis())]
    Timeout { after: std::time::Duration },
    /// Refused without trying: the store is known to be down until a
    /// statement gets through again (see `breaker`).
    #[error("refused at once while the store is down: {0}")]
    Unavailable(Outage),
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
    batcher: batch::Batcher,
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
        let batcher = batch::Batcher::start(Arc::downgrade(&backend));
        Ok(Self {
            inner: Arc::new(Inner {
                backend,
                signals,
                batcher,
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

    /// With the embedded store: resolves after any write in this process
    /// (every write there is), so a reader following a task can wait for
    /// a change instead of polling. `None` with PostgreSQL, where other
    /// processes write unannounced.
    pub fn change_signal(&self) -> Option<&Notify> {
        match self.backend() {
            Backend::Sqlite(b) => Some(b.writer.written()),
            Backend::Postgres(_) => None,
        }
    }

    fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    fn batcher(&self) -> &batch::Batcher {
        &self.inner.batcher
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
