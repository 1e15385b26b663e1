//! A worker's ends of a running attempt, each fenced by the attempt its
//! claim returned (`status = 'running' AND attempts = <its claim>`):
//! `completed` (`Store::complete`), `failed` (`Store::fail`), `cancelled`
//! after a request (`Store::record_cancelled`), and back to `pending`
//! (`Store::retry` after a failure, `Store::release` on shutdown). Each
//! terminal status a worker writes has exactly one of these. The `_logged`
//! forms also replace the task's attempt log in the same statement (the
//! worker passes what earlier attempts tried plus what this one did), so
//! that the log and the outcome are committed together or not at all.

use std::time::Duration;

use super::bookkeeping::{finishing, with_bookkeeping};
use super::{log_with_interrupted_attempt, millis};
use crate::backend::on_writer;
use crate::error_code::ErrorCode;
use crate::placeholders::Placeholders;
use crate::row::json;
use crate::task::{AttemptRecord, TaskError, TaskResult};
use crate::{Fenced, Result, Retry, Store, now_ms};

/// A completion waiting for its statement, its columns ready to bind.
pub(crate) struct Completion {
    pub(crate) id: String,
    attempt: i64,
    result: String,
    /// `None` keeps the log as it is.
    attempt_log: Option<String>,
}

/// The attempt log column's new value: `None` (an empty log) keeps it.
fn log_column(log: &[AttemptRecord]) -> Option<String> {
    (!log.is_empty()).then(|| json(&log))
}

impl Store {
    /// The one path that writes `completed`. Completions that arrive
    /// together share one statement (see `batch`), each row still fenced by
    /// its own attempt.
    pub async fn complete(&self, id: &str, attempt: u32, result: &TaskResult) -> Result<Fenced> {
        self.complete_logged(id, attempt, result, &[]).await
    }

    /// `complete`, and the task's attempt log becomes `log`.
    pub async fn complete_logged(
        &self,
        id: &str,
        attempt: u32,
        result: &TaskResult,
        log: &[AttemptRecord],
    ) -> Result<Fenced> {
        let completion = Completion {
            id: id.to_owned(),
            attempt: i64::from(attempt),
            result: json(result),
            attempt_log: log_column(log),
        };
        let returned = self.batcher().complete(completion).await?;
        Ok(Fenced::from_rows(u64::from(returned.is_some())))
    }

    /// The one path by which a worker writes `failed`.
    pub async fn fail(&self, id: &str, attempt: u32, error: &TaskError) -> Result<Fenced> {
        self.fail_logged(id, attempt, error, &[]).await
    }

    /// `fail`, and the task's attempt log becomes `log`.
    pub async fn fail_logged(
        &self,
        id: &str,
        attempt: u32,
        error: &TaskError,
        log: &[AttemptRecord],
    ) -> Result<Fenced> {
        let sql = finishing(
            self.backend(),
            "UPDATE tasks SET status = 'failed', error_code = $3, error_message = $4, \
                 lease_owner = NULL, lease_expires_at = NULL, completed_at = $5, updated_at = $5, \
                 attempt_log = COALESCE($6, attempt_log) \
             WHERE id = $1 AND status = 'running' AND attempts = $2",
            "tasks.error_code",
            "id",
        );
        let rows = on_writer!(self.backend(), |pool| {
            sqlx::query(&sql)
                .bind(id)
                .bind(i64::from(attempt))
                .bind(error.code.as_str())
                .bind(&error.message)
                .bind(now_ms())
                .bind(log_column(log))
                .fetch_all(pool)
                .await?
                .len()
        });
        Ok(Fenced::from_rows(rows as u64))
    }

    /// Puts a failed attempt back to `pending`, due after `delay`, keeping
    /// its error visible. The worker decides to retry (`worker::retry`);
    /// the statement checks that rule again as a fence, and says why it
    /// refused: a cancel was requested or the attempts are used up (the
    /// worker then records that end instead), or the task was lost.
    pub async fn retry(
        &self,
        id: &str,
        attempt: u32,
        error: &TaskError,
        delay: Duration,
    ) -> Result<Retry> {
        self.retry_logged(id, attempt, error, delay, &[]).await
    }

    /// `retry`, and the task's attempt log becomes `log`.
    pub async fn retry_logged(
        &self,
        id: &str,
        attempt: u32,
        error: &TaskError,
        delay: Duration,
        log: &[AttemptRecord],
    ) -> Result<Retry> {
        let now = now_ms();
        let sql = finishing(
            self.backend(),
            "UPDATE tasks SET status = 'pending', error_code = $3, error_message = $4, \
                 lease_owner = NULL, lease_expires_at = NULL, run_at = $5, updated_at = $6, \
                 attempt_log = COALESCE($7, attempt_log) \
             WHERE id = $1 AND status = 'running' AND attempts = $2 \
               AND attempts < max_attempts AND cancel_requested_at IS NULL",
            "tasks.error_code",
            "id",
        );
        let rows = on_writer!(self.backend(), |pool| {
            sqlx::query(&sql)
                .bind(id)
                .bind(i64::from(attempt))
                .bind(error.code.as_str())
                .bind(&error.message)
                // Saturating: a delay is the upstream's wish, and may be huge.
                .bind(now.saturating_add(millis(delay)))
                .bind(now)
                .bind(log_column(log))
                .fetch_all(pool)
                .await?
                .len()
        });
        if rows == 1 {
            // The claimer sleeps until the next due task: this one may be
            // due sooner.
            self.wake_workers();
            return Ok(Retry::Scheduled);
        }
        // Refused: read why. Neither reason can go away while the task runs
        // under this attempt (a cancel request stays, attempts only grow
        // with a new claim), so what this reads is what the UPDATE saw,
        // unless the task was lost meanwhile, which it then says.
        let held: Option<(Option<i64>, i64, i64)> = on_writer!(self.backend(), |pool| {
            sqlx::query_as(
                "SELECT cancel_requested_at, attempts, max_attempts FROM tasks \
                 WHERE id = $1 AND status = 'running' AND attempts = $2",
            )
            .bind(id)
            .bind(i64::from(attempt))
            .fetch_optional(pool)
            .await?
        });
        Ok(match held {
            None => Retry::Lost,
            Some((Some(_), _, _)) => Retry::CancelRequested,
            Some((None, attempts, max_attempts)) if attempts >= max_attempts => {
                Retry::AttemptsUsedUp
            }
            // Only a row that changed between the two statements and back
            // could get here; nothing was written, so say so.
            Some(_) => Retry::Lost,
        })
    }

    /// Hands a running attempt back to `pending`, due now (a worker shutting
    /// down before its call finished); its log ends with the attempt, as
    /// `interrupted`.
    pub async fn release(&self, id: &str, attempt: u32) -> Result<Fenced> {
        let update = format!(
            "UPDATE tasks SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
                 attempt_log = {}, run_at = $3, updated_at = $3 \
             WHERE id = $1 AND status = 'running' AND attempts = $2",
            log_with_interrupted_attempt(self.backend(), "$3", "NULL")
        );
        let sql = finishing(self.backend(), &update, "'interrupted'", "id");
        let rows = on_writer!(self.backend(), |pool| {
            sqlx::query(&sql)
                .bind(id)
                .bind(i64::from(attempt))
                .bind(now_ms())
                .fetch_all(pool)
                .await?
                .len()
        });
        if rows == 1 {
            self.wake_workers();
        }
        Ok(Fenced::from_rows(rows as u64))
    }

    /// The one path by which a worker writes `cancelled`: only after a
    /// cancel was requested for its attempt.
    pub async fn record_cancelled(&self, id: &str, attempt: u32) -> Result<Fenced> {
        self.record_cancelled_logged(id, attempt, &[]).await
    }

    /// `record_cancelled`, and the task's attempt log becomes `log`.
    pub async fn record_cancelled_logged(
        &self,
        id: &str,
        attempt: u32,
        log: &[AttemptRecord],
    ) -> Result<Fenced> {
        let sql = finishing(
            self.backend(),
            "UPDATE tasks SET status = 'cancelled', error_code = $3, \
                 error_message = 'cancelled by request while running', lease_owner = NULL, \
                 lease_expires_at = NULL, completed_at = $4, updated_at = $4, \
                 attempt_log = COALESCE($5, attempt_log) \
             WHERE id = $1 AND status = 'running' AND attempts = $2 \
               AND cancel_requested_at IS NOT NULL",
            "'cancelled'",
            "id",
        );
        let rows = on_writer!(self.backend(), |pool| {
            sqlx::query(&sql)
                .bind(id)
                .bind(i64::from(attempt))
                .bind(ErrorCode::Cancelled.as_str())
                .bind(now_ms())
                .bind(log_column(log))
                .fetch_all(pool)
                .await?
                .len()
        });
        Ok(Fenced::from_rows(rows as u64))
    }
}

/// The fenced UPDATE of `rows` completions: id, attempt, result, attempt
/// log and the time, per row. The casts give the VALUES columns their types
/// on PostgreSQL (SQLite accepts them); both name them column1..5. The
/// placeholders say the database (see `bookkeeping` for what PostgreSQL's
/// statement writes besides).
pub(crate) fn completion_statement(rows: usize, placeholders: Placeholders) -> String {
    let update = completion_update(rows, placeholders);
    match placeholders {
        Placeholders::Anonymous => format!("{update} RETURNING id"),
        Placeholders::Numbered => with_bookkeeping(&update, "'ok'", "id"),
    }
}

fn completion_update(rows: usize, placeholders: Placeholders) -> String {
    let values = placeholders.rows(rows, 5, |p| {
        format!(
            "(CAST({} AS TEXT), CAST({} AS BIGINT), CAST({} AS TEXT), CAST({} AS TEXT), \
              CAST({} AS BIGINT))",
            p[0], p[1], p[2], p[3], p[4]
        )
    });
    format!(
        "UPDATE tasks SET status = 'completed', result = v.column3, error_code = NULL, \
             error_message = NULL, lease_owner = NULL, lease_expires_at = NULL, \
             completed_at = v.column5, updated_at = v.column5, \
             attempt_log = COALESCE(v.column4, tasks.attempt_log) \
         FROM (VALUES {values}) AS v \
         WHERE tasks.id = v.column1 AND tasks.status = 'running' AND tasks.attempts = v.column2"
    )
}

/// Binds `rows` to `completion_statement(rows.len(), _)`; the statement
/// returns the id of each row it applied.
pub(crate) fn bind_completions<'q, DB: sqlx::Database>(
    sql: &'q str,
    rows: impl IntoIterator<Item = &'q Completion>,
    now: i64,
) -> sqlx::query::QueryScalar<'q, DB, String, <DB as sqlx::Database>::Arguments<'q>>
where
    (String,): for<'r> sqlx::FromRow<'r, DB::Row>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::query_scalar(sql);
    for row in rows {
        query = query
            .bind(row.id.as_str())
            .bind(row.attempt)
            .bind(row.result.as_str())
            .bind(row.attempt_log.as_deref())
            .bind(now);
    }
    query
}
