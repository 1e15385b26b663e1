//! The status store: the one transactional record of every task, shared by
//! the API and the workers. Owns all SQL. Every transition is one conditional
//! UPDATE; a worker's writes are fenced by the `attempt` its claim returned.
//! SQLite is the embedded default; PostgreSQL serves many processes.

mod row;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::task::{Task, TaskError, TaskInput, TaskResult, TaskStatus};
use sqlite::SqliteStore;

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
enum CancelWrite {
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
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The store handle: cheap to clone, shared by the API and the workers.
#[derive(Clone)]
pub struct Store {
    backend: Arc<SqliteStore>,
    work_available: Arc<Notify>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn connect(url: &str) -> Result<Self> {
        let backend = if url.starts_with("sqlite:") {
            SqliteStore::connect(url).await?
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        Ok(Self {
            backend: Arc::new(backend),
            work_available: Arc::new(Notify::new()),
        })
    }

    /// Stores a new pending task and wakes the workers. The row is committed
    /// when this returns.
    pub async fn insert(&self, task: &NewTask) -> Result<Task> {
        let stored = self.backend.insert(task, now_ms()).await?;
        self.work_available.notify_waiters();
        Ok(stored)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Task>> {
        self.backend.get(id).await
    }

    pub async fn list(&self, query: &ListQuery) -> Result<Page> {
        self.backend.list(query).await
    }

    /// Claims the oldest due pending task: it becomes `running` under a new
    /// attempt with a lease held by `owner` until `lease` from now.
    pub async fn claim(&self, owner: &str, lease: Duration) -> Result<Option<ClaimedTask>> {
        self.backend.claim(owner, lease_ms(lease), now_ms()).await
    }

    /// Extends the lease of a running attempt; tells whether a cancel was asked.
    pub async fn heartbeat(&self, id: &str, attempt: u32, lease: Duration) -> Result<Heartbeat> {
        self.backend
            .heartbeat(id, attempt, lease_ms(lease), now_ms())
            .await
    }

    /// The one path that writes `completed`.
    pub async fn complete(&self, id: &str, attempt: u32, result: &TaskResult) -> Result<Fenced> {
        self.backend.complete(id, attempt, result, now_ms()).await
    }

    /// The one path by which a worker writes `failed`.
    pub async fn fail(&self, id: &str, attempt: u32, error: &TaskError) -> Result<Fenced> {
        self.backend.fail(id, attempt, error, now_ms()).await
    }

    /// Puts a failed attempt back to `pending`, due after `delay`. Refused
    /// (Lost) when the attempts are used up: the caller then fails the task.
    pub async fn retry(
        &self,
        id: &str,
        attempt: u32,
        error: &TaskError,
        delay: Duration,
    ) -> Result<Fenced> {
        let now = now_ms();
        let written = self
            .backend
            .retry(id, attempt, error, now + lease_ms(delay), now)
            .await?;
        Ok(written)
    }

    /// Cancels a task on a client's request (see `Cancel`).
    pub async fn cancel(&self, id: &str) -> Result<Cancel> {
        // A task can move between the two statements of a cancel (a retry
        // puts it back to pending); trying again settles it.
        for _ in 0..3 {
            let written = self.backend.cancel(id, now_ms()).await?;
            let Some(task) = self.get(id).await? else {
                return Ok(Cancel::NotFound);
            };
            match written {
                CancelWrite::Cancelled => return Ok(Cancel::Cancelled(task)),
                CancelWrite::Requested => return Ok(Cancel::Requested(task)),
                CancelWrite::Neither if task.status.is_terminal() => {
                    return Ok(Cancel::AlreadyFinished(task));
                }
                CancelWrite::Neither => continue,
            }
        }
        let task = self.get(id).await?.ok_or_else(|| StoreError::Corrupt {
            id: id.to_owned(),
            reason: "vanished while being cancelled".into(),
        })?;
        Ok(Cancel::Requested(task))
    }

    /// The one path by which a worker writes `cancelled`: only after a
    /// cancel was requested for its attempt.
    pub async fn record_cancelled(&self, id: &str, attempt: u32) -> Result<Fenced> {
        self.backend.record_cancelled(id, attempt, now_ms()).await
    }

    /// Hands a running attempt back to `pending` untouched, due now (used
    /// when a worker shuts down before its call finished).
    pub async fn release(&self, id: &str, attempt: u32) -> Result<Fenced> {
        let written = self.backend.release(id, attempt, now_ms()).await?;
        self.work_available.notify_waiters();
        Ok(written)
    }

    /// Returns every running task whose lease expired before `now_ms` to
    /// `pending`, or to `failed` (`lease_expired`) when its attempts are used
    /// up, or to `cancelled` when a cancel was asked, in one statement.
    pub async fn rescue_expired(&self, now_ms: i64) -> Result<Rescued> {
        self.rescue(now_ms, now_ms).await
    }

    /// Like `rescue_expired`, for every running task whatever its lease:
    /// only for a store that belongs to this process alone, at start-up,
    /// when any `running` task was left by a process that died.
    pub async fn recover_after_restart(&self) -> Result<Rescued> {
        assert!(
            self.is_single_process(),
            "only a single-process store can recover all leases"
        );
        self.rescue(i64::MAX, now_ms()).await
    }

    async fn rescue(&self, expired_before: i64, now: i64) -> Result<Rescued> {
        let rescued = self.backend.rescue_expired(expired_before, now).await?;
        if rescued.requeued > 0 {
            self.work_available.notify_waiters();
        }
        Ok(rescued)
    }

    /// Waits until a task may have become claimable, or `at_most` passed.
    /// Call `work_signal` before claiming so that no wake-up is missed.
    pub fn work_signal(&self) -> Arc<Notify> {
        self.work_available.clone()
    }

    /// Milliseconds until the next pending task is due, if any is waiting.
    pub async fn next_due_in(&self) -> Result<Option<Duration>> {
        let now = now_ms();
        Ok(self
            .backend
            .next_run_at()
            .await?
            .map(|at| Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0))))
    }

    /// Whether this store belongs to one process alone (the embedded
    /// database), so that no other process can hold a lease in it.
    pub fn is_single_process(&self) -> bool {
        true
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.backend.ping().await
    }
}

/// The store's clock: Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn lease_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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
