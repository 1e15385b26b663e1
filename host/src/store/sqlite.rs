//! The SQLite backend, the embedded single-node default. WAL journal; every
//! write goes through one connection (so writers never contend and never see
//! `database is locked`), reads through a separate pool that the writer never
//! blocks. A lock file keeps a second process off the same database.

use std::fs::File;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::row::{ClaimRow, TaskRow, json};
use super::{
    CancelWrite, ClaimedTask, Fenced, Heartbeat, ListQuery, NewTask, Page, Rescued, Result,
    StoreError,
};
use crate::error_code::ErrorCode;
use crate::task::{Task, TaskError, TaskResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    /// Held for the store's lifetime: one process per database file.
    _lock: File,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL is durable against process crashes; only an OS
            // crash can lose the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let path = options.get_filename().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let lock = lock_database(&path)?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            writer,
            readers,
            _lock: lock,
        })
    }

    pub async fn insert(&self, task: &NewTask, now: i64) -> Result<Task> {
        let sql = format!(
            "INSERT INTO tasks (id, status, provider, model, input, metadata, max_attempts, \
             timeout_ms, run_at, created_at, updated_at) \
             VALUES (?1, 'pending', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?8) RETURNING {}",
            super::row::TASK_COLUMNS
        );
        let row: TaskRow = sqlx::query_as(&sql)
            .bind(&task.id)
            .bind(&task.provider)
            .bind(&task.model)
            .bind(json(&task.input))
            .bind(task.metadata.as_ref().map(json))
            .bind(i64::from(task.max_attempts))
            .bind(
                task.timeout_ms
                    .map(|t| i64::try_from(t).unwrap_or(i64::MAX)),
            )
            .bind(now)
            .fetch_one(&self.writer)
            .await?;
        row.try_into()
    }

    pub async fn get(&self, id: &str) -> Result<Option<Task>> {
        let sql = format!(
            "SELECT {} FROM tasks WHERE id = ?1",
            super::row::TASK_COLUMNS
        );
        let row: Option<TaskRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        row.map(Task::try_from).transpose()
    }

    pub async fn list(&self, query: &ListQuery) -> Result<Page> {
        let sql = format!(
            "SELECT {} FROM tasks \
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR provider = ?2) \
               AND (?3 IS NULL OR seq < ?3) \
             ORDER BY seq DESC LIMIT ?4",
            super::row::TASK_COLUMNS
        );
        let rows: Vec<TaskRow> = sqlx::query_as(&sql)
            .bind(query.status.map(|s| s.as_str()))
            .bind(query.provider.as_deref())
            .bind(query.cursor)
            .bind(i64::from(query.limit) + 1)
            .fetch_all(&self.readers)
            .await?;
        super::page(rows, query.limit)
    }

    pub async fn claim(&self, owner: &str, lease_ms: i64, now: i64) -> Result<Option<ClaimedTask>> {
        let sql = format!(
            "UPDATE tasks SET status = 'running', attempts = attempts + 1, lease_owner = ?1, \
                 lease_expires_at = ?2 + ?3, started_at = ?2, updated_at = ?2 \
             WHERE seq = (SELECT seq FROM tasks WHERE status = 'pending' AND run_at <= ?2 \
                          ORDER BY run_at, seq LIMIT 1) \
             RETURNING {}",
            super::row::CLAIM_COLUMNS
        );
        let row: Option<ClaimRow> = sqlx::query_as(&sql)
            .bind(owner)
            .bind(now)
            .bind(lease_ms)
            .fetch_optional(&self.writer)
            .await?;
        row.map(ClaimedTask::try_from).transpose()
    }

    pub async fn heartbeat(
        &self,
        id: &str,
        attempt: u32,
        lease_ms: i64,
        now: i64,
    ) -> Result<Heartbeat> {
        let row: Option<(Option<i64>,)> = sqlx::query_as(
            "UPDATE tasks SET lease_expires_at = ?3 + ?4 \
             WHERE id = ?1 AND status = 'running' AND attempts = ?2 \
             RETURNING cancel_requested_at",
        )
        .bind(id)
        .bind(i64::from(attempt))
        .bind(now)
        .bind(lease_ms)
        .fetch_optional(&self.writer)
        .await?;
        Ok(match row {
            None => Heartbeat::Lost,
            Some((None,)) => Heartbeat::Extended,
            Some((Some(_),)) => Heartbeat::CancelRequested,
        })
    }

    pub async fn complete(
        &self,
        id: &str,
        attempt: u32,
        result: &TaskResult,
        now: i64,
    ) -> Result<Fenced> {
        let done = sqlx::query(
            "UPDATE tasks SET status = 'completed', result = ?3, error_code = NULL, \
                 error_message = NULL, lease_owner = NULL, lease_expires_at = NULL, \
                 completed_at = ?4, updated_at = ?4 \
             WHERE id = ?1 AND status = 'running' AND attempts = ?2",
        )
        .bind(id)
        .bind(i64::from(attempt))
        .bind(json(result))
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(Fenced::from_rows(done.rows_affected()))
    }

    pub async fn fail(
        &self,
        id: &str,
        attempt: u32,
        error: &TaskError,
        now: i64,
    ) -> Result<Fenced> {
        let done = sqlx::query(
            "UPDATE tasks SET status = 'failed', error_code = ?3, error_message = ?4, \
                 lease_owner = NULL, lease_expires_at = NULL, completed_at = ?5, updated_at = ?5 \
             WHERE id = ?1 AND status = 'running' AND attempts = ?2",
        )
        .bind(id)
        .bind(i64::from(attempt))
        .bind(error.code.as_str())
        .bind(&error.message)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(Fenced::from_rows(done.rows_affected()))
    }

    pub async fn retry(
        &self,
        id: &str,
        attempt: u32,
        error: &TaskError,
        run_at: i64,
        now: i64,
    ) -> Result<Fenced> {
        let done = sqlx::query(
            "UPDATE tasks SET status = 'pending', error_code = ?3, error_message = ?4, \
                 lease_owner = NULL, lease_expires_at = NULL, run_at = ?5, updated_at = ?6 \
             WHERE id = ?1 AND status = 'running' AND attempts = ?2 AND attempts < max_attempts \
               AND cancel_requested_at IS NULL",
        )
        .bind(id)
        .bind(i64::from(attempt))
        .bind(error.code.as_str())
        .bind(&error.message)
        .bind(run_at)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(Fenced::from_rows(done.rows_affected()))
    }

    pub async fn release(&self, id: &str, attempt: u32, now: i64) -> Result<Fenced> {
        let done = sqlx::query(
            "UPDATE tasks SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
                 run_at = ?3, updated_at = ?3 \
             WHERE id = ?1 AND status = 'running' AND attempts = ?2",
        )
        .bind(id)
        .bind(i64::from(attempt))
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(Fenced::from_rows(done.rows_affected()))
    }

    pub async fn rescue_expired(&self, cutoff: i64, now: i64) -> Result<Rescued> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "UPDATE tasks SET \
                 status = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled' \
                     WHEN attempts < max_attempts THEN 'pending' ELSE 'failed' END, \
                 error_code = CASE WHEN cancel_requested_at IS NOT NULL THEN ?3 \
                     WHEN attempts < max_attempts THEN error_code ELSE ?2 END, \
                 error_message = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled by request' \
                     WHEN attempts < max_attempts THEN error_message \
                     ELSE 'the worker running attempt ' || attempts || ' stopped renewing its lease' END, \
                 completed_at = CASE WHEN cancel_requested_at IS NULL AND attempts < max_attempts \
                     THEN NULL ELSE ?1 END, \
                 run_at = ?1, lease_owner = NULL, lease_expires_at = NULL, updated_at = ?1 \
             WHERE status = 'running' AND lease_expires_at < ?4 \
             RETURNING status",
        )
        .bind(now)
        .bind(ErrorCode::LeaseExpired.as_str())
        .bind(ErrorCode::Cancelled.as_str())
        .bind(cutoff)
        .fetch_all(&self.writer)
        .await?;
        Ok(super::count_rescued(rows.iter().map(|(s,)| s.as_str())))
    }

    /// Cancels a pending task at once, or asks the worker of a running one to
    /// stop. Each is one conditional UPDATE; the caller reads the task after.
    pub async fn cancel(&self, id: &str, now: i64) -> Result<CancelWrite> {
        let done = sqlx::query(
            "UPDATE tasks SET status = 'cancelled', error_code = ?2, \
                 error_message = 'cancelled by request', completed_at = ?3, updated_at = ?3 \
             WHERE id = ?1 AND status = 'pending'",
        )
        .bind(id)
        .bind(ErrorCode::Cancelled.as_str())
        .bind(now)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(CancelWrite::Cancelled);
        }
        let done = sqlx::query(
            "UPDATE tasks SET cancel_requested_at = COALESCE(cancel_requested_at, ?2), updated_at = ?2 \
             WHERE id = ?1 AND status = 'running'",
        )
        .bind(id)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(if done.rows_affected() == 1 {
            CancelWrite::Requested
        } else {
            CancelWrite::Neither
        })
    }

    /// The worker's write of `cancelled`, after a cancel was requested.
    pub async fn record_cancelled(&self, id: &str, attempt: u32, now: i64) -> Result<Fenced> {
        let done = sqlx::query(
            "UPDATE tasks SET status = 'cancelled', error_code = ?3, \
                 error_message = 'cancelled by request while running', lease_owner = NULL, \
                 lease_expires_at = NULL, completed_at = ?4, updated_at = ?4 \
             WHERE id = ?1 AND status = 'running' AND attempts = ?2 \
               AND cancel_requested_at IS NOT NULL",
        )
        .bind(id)
        .bind(i64::from(attempt))
        .bind(ErrorCode::Cancelled.as_str())
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(Fenced::from_rows(done.rows_affected()))
    }

    pub async fn next_run_at(&self) -> Result<Option<i64>> {
        let (at,): (Option<i64>,) =
            sqlx::query_as("SELECT MIN(run_at) FROM tasks WHERE status = 'pending'")
                .fetch_one(&self.readers)
                .await?;
        Ok(at)
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }
}

/// Takes an exclusive lock beside the database file: the single-writer
/// design (and restart recovery) assumes one process per database.
fn lock_database(db: &std::path::Path) -> Result<File> {
    let mut lock_path = db.as_os_str().to_owned();
    lock_path.push(".lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StoreError::Io(std::io::Error::other(format!(
                "{} is in use by another llmhost process (lock file {})",
                db.display(),
                std::path::Path::new(&lock_path).display()
            ))))
        }
        Err(std::fs::TryLockError::Error(err)) => Err(err.into()),
    }
}
