//! Every write to a task: one conditional statement each, with the state it
//! expects in its WHERE clause. A worker's writes also require the attempt
//! its claim returned, so a worker that lost its task writes nothing.

use std::time::Duration;

use super::backend::{Backend, on_writer};
use super::row::{CLAIM_COLUMNS, ClaimRow, TASK_COLUMNS, TaskRow, json};
use super::{
    Cancel, CancelWrite, ClaimedTask, Fenced, Heartbeat, Inserted, NewTask, Rescued, Result, Store,
    StoreError, count_rescued, now_ms,
};
use crate::error_code::ErrorCode;
use crate::task::{Task, TaskError};

impl Store {
    /// Stores a new pending task and wakes the workers; committed when this
    /// returns. With an idempotency key that was used before, stores nothing
    /// and returns the earlier task (or the conflict).
    pub async fn insert(&self, task: &NewTask) -> Result<Inserted> {
        let Some(key) = &task.idempotency else {
            // Nothing to look up on conflict: batched with other inserts.
            let row = self.insert_batched(task).await?;
            self.wake_workers();
            return Ok(Inserted::Created(row.try_into()?));
        };
        let sql = format!(
            "INSERT INTO tasks (id, status, provider, model, input, metadata, max_attempts, \
                 timeout_ms, run_at, created_at, updated_at, idempotency_key, request_hash) \
             VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7, $8, $8, $8, $9, $10) \
             ON CONFLICT (idempotency_key) DO NOTHING \
             RETURNING {TASK_COLUMNS}"
        );
        let row: Option<TaskRow> = on_writer!(self.backend(), |pool| {
            sqlx::query_as(&sql)
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
                .bind(now_ms())
                .bind(key.key.as_str())
                .bind(key.request_hash.as_str())
                .fetch_optional(pool)
                .await?
        });
        match row {
            Some(row) => {
                self.wake_workers();
                Ok(Inserted::Created(row.try_into()?))
            }
            None => self.earlier_submission(&key.key, &key.request_hash).await,
        }
    }

    /// The task an idempotency key was first used for.
    async fn earlier_submission(&self, key: &str, request_hash: &str) -> Result<Inserted> {
        let sql =
            format!("SELECT {TASK_COLUMNS}, request_hash FROM tasks WHERE idempotency_key = $1");
        let (row, stored_hash): (TaskRow, Option<String>) = on_writer!(self.backend(), |pool| {
            let row = sqlx::query(&sql).bind(key).fetch_one(pool).await?;
            (
                sqlx::FromRow::from_row(&row)?,
                sqlx::Row::try_get(&row, "request_hash")?,
            )
        });
        let task = Task::try_from(row)?;
        Ok(if stored_hash.as_deref() == Some(request_hash) {
            Inserted::Existing(task)
        } else {
            Inserted::KeyConflict(task)
        })
    }

    /// Claims the oldest due pending task: it becomes `running` under a new
    /// attempt, leased to `owner` for `lease`. For tests: workers claim in
    /// batches.
    #[cfg(test)]
    pub(crate) async fn claim(&self, owner: &str, lease: Duration) -> Result<Option<ClaimedTask>> {
        Ok(self.claim_batch(owner, lease, 1).await?.into_iter().next())
    }

    /// Claims up to `max` of the oldest due pending tasks in one statement:
    /// each becomes `running` under a new attempt, leased to `owner` for
    /// `lease`, so that a worker pool with several free slots pays one round
    /// trip.
    pub async fn claim_batch(
        &self,
        owner: &str,
        lease: Duration,
        max: u32,
    ) -> Result<Vec<ClaimedTask>> {
        let set = "SET status = 'running', attempts = tasks.attempts + 1, lease_owner = $1, \
                   lease_expires_at = $2 + $3, started_at = $2, updated_at = $2";
        let max = i64::from(max);
        let rows: Vec<ClaimRow> = match self.backend() {
            // One writer connection: the sub-select and update cannot race.
            // Without statistics SQLite would pick `tasks_by_status` and sort
            // every pending task for each claim; the claimable index hands
            // out the oldest due ones in order.
            Backend::Sqlite(b) => {
                let sql = format!(
                    "UPDATE tasks {set} WHERE seq IN (SELECT seq FROM tasks \
                         INDEXED BY tasks_claimable \
                         WHERE status = 'pending' AND run_at <= $2 ORDER BY run_at, seq LIMIT $4) \
                     RETURNING {CLAIM_COLUMNS}"
                );
                claim_query(&sql, owner, lease)
                    .bind(max)
                    .fetch_all(&mut *b.writer.lock().await)
                    .await?
            }
            // Concurrent claimers skip rows another transaction has locked
            // instead of waiting for it or claiming it twice.
            Backend::Postgres(b) => {
                let sql = format!(
                    "WITH next AS (SELECT seq FROM tasks \
                         WHERE status = 'pending' AND run_at <= $2 ORDER BY run_at, seq LIMIT $4 \
                         FOR UPDATE SKIP LOCKED) \
                     UPDATE tasks {set} FROM next WHERE tasks.seq = next.seq \
                     RETURNING {CLAIM_COLUMNS}"
                );
                claim_query(&sql, owner, lease)
                    .bind(max)
                    .fetch_all(&b.pool)
                    .await?
            }
        };
        // A row that cannot be read fails alone: its batch-mates are now
        // running under our lease, and dropping them with it would leave
        // them to expire (and, claimed in a batch with it again and again,
        // use up their attempts). It stays leased until the rescuer
        // returns it, as a lone corrupt claim always did.
        let mut claimed = Vec::with_capacity(rows.len());
        let mut corrupt = None;
        for row in rows {
            match ClaimedTask::try_from(row) {
                Ok(task) => claimed.push(task),
                Err(err) => {
                    tracing::error!("claimed a task that cannot be read: {err}");
                    corrupt = Some(err);
                }
            }
        }
        if let Some(err) = corrupt
            && claimed.is_empty()
        {
            return Err(err);
        }
        // RETURNING follows no order; hand the oldest out first.
        claimed.sort_by_key(|t| t.due_at_ms);
        Ok(claimed)
    }

    /// Extends the lease of a running attempt, and says whether a cancel was
    /// asked or the task was lost.
    pub async fn heartbeat(&self, id: &str, attempt: u32, lease: Duration) -> Result<Heartbeat> {
        let row: Option<(Option<i64>,)> = on_writer!(self.backend(), |pool| {
            sqlx::query_as(
                "UPDATE tasks SET lease_expires_at = $3 \
                 WHERE id = $1 AND status = 'running' AND attempts = $2 \
                 RETURNING cancel_requested_at",
            )
            .bind(id)
            .bind(i64::from(attempt))
            .bind(now_ms() + millis(lease))
            .fetch_optional(pool)
            .await?
        });
        Ok(match row {
            None => Heartbeat::Lost,
            Some((None,)) => Heartbeat::Extended,
            Some((Some(_),)) => Heartbeat::CancelRequested,
        })
    }

    /// The one path by which a worker writes `failed`.
    pub async fn fail(&self, id: &str, attempt: u32, error: &TaskError) -> Result<Fenced> {
        let rows = on_writer!(self.backend(), |pool| {
            sqlx::query(
                "UPDATE tasks SET status = 'failed', error_code = $3, error_message = $4, \
                     lease_owner = NULL, lease_expires_at = NULL, completed_at = $5, updated_at = $5 \
                 WHERE id = $1 AND status = 'running' AND attempts = $2",
            )
            .bind(id)
            .bind(i64::from(attempt))
            .bind(error.code.as_str())
            .bind(&error.message)
            .bind(now_ms())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(Fenced::from_rows(rows))
    }

    /// Puts a failed attempt back to `pending`, due after `delay`, keeping
    /// its error visible. Refused (Lost) when the attempts are used up or a
    /// cancel was asked: the caller then fails or cancels the task.
    pub async fn retry(
        &self,
        id: &str,
        attempt: u32,
        error: &TaskError,
        delay: Duration,
    ) -> Result<Fenced> {
        let now = now_ms();
        let rows = on_writer!(self.backend(), |pool| {
            sqlx::query(
                "UPDATE tasks SET status = 'pending', error_code = $3, error_message = $4, \
                     lease_owner = NULL, lease_expires_at = NULL, run_at = $5, updated_at = $6 \
                 WHERE id = $1 AND status = 'running' AND attempts = $2 \
                   AND attempts < max_attempts AND cancel_requested_at IS NULL",
            )
            .bind(id)
            .bind(i64::from(attempt))
            .bind(error.code.as_str())
            .bind(&error.message)
            .bind(now + millis(delay))
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(Fenced::from_rows(rows))
    }

    /// Hands a running attempt back to `pending`, due now (a worker shutting
    /// down before its call finished).
    pub async fn release(&self, id: &str, attempt: u32) -> Result<Fenced> {
        let rows = on_writer!(self.backend(), |pool| {
            sqlx::query(
                "UPDATE tasks SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
                     run_at = $3, updated_at = $3 \
                 WHERE id = $1 AND status = 'running' AND attempts = $2",
            )
            .bind(id)
            .bind(i64::from(attempt))
            .bind(now_ms())
            .execute(pool)
            .await?
            .rows_affected()
        });
        if rows == 1 {
            self.wake_workers();
        }
        Ok(Fenced::from_rows(rows))
    }

    /// Cancels a task on a client's request (see `Cancel`). The API never
    /// writes the terminal status of a running task: it only asks.
    pub async fn cancel(&self, id: &str) -> Result<Cancel> {
        // A retry can move a task from running back to pending between the
        // two statements of a cancel; trying again settles it.
        for _ in 0..3 {
            let written = self.cancel_once(id).await?;
            let Some(task) = self.get(id).await? else {
                return Ok(Cancel::NotFound);
            };
            match written {
                CancelWrite::Cancelled => return Ok(Cancel::Cancelled(task)),
                CancelWrite::Requested => {
                    self.inner.signals.cancel.notify_waiters();
                    return Ok(Cancel::Requested(task));
                }
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

    async fn cancel_once(&self, id: &str) -> Result<CancelWrite> {
        let now = now_ms();
        let cancelled = on_writer!(self.backend(), |pool| {
            sqlx::query(
                "UPDATE tasks SET status = 'cancelled', error_code = $2, \
                     error_message = 'cancelled by request', completed_at = $3, updated_at = $3 \
                 WHERE id = $1 AND status = 'pending'",
            )
            .bind(id)
            .bind(ErrorCode::Cancelled.as_str())
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if cancelled == 1 {
            return Ok(CancelWrite::Cancelled);
        }
        let requested = on_writer!(self.backend(), |pool| {
            sqlx::query(
                "UPDATE tasks SET cancel_requested_at = COALESCE(cancel_requested_at, $2), \
                     updated_at = $2 \
                 WHERE id = $1 AND status = 'running'",
            )
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(if requested == 1 {
            CancelWrite::Requested
        } else {
            CancelWrite::Neither
        })
    }

    /// The one path by which a worker writes `cancelled`: only after a
    /// cancel was requested for its attempt.
    pub async fn record_cancelled(&self, id: &str, attempt: u32) -> Result<Fenced> {
        let rows = on_writer!(self.backend(), |pool| {
            sqlx::query(
                "UPDATE tasks SET status = 'cancelled', error_code = $3, \
                     error_message = 'cancelled by request while running', lease_owner = NULL, \
                     lease_expires_at = NULL, completed_at = $4, updated_at = $4 \
                 WHERE id = $1 AND status = 'running' AND attempts = $2 \
                   AND cancel_requested_at IS NOT NULL",
            )
            .bind(id)
            .bind(i64::from(attempt))
            .bind(ErrorCode::Cancelled.as_str())
            .bind(now_ms())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(Fenced::from_rows(rows))
    }

    /// Returns every running task whose lease expired before `now_ms` to
    /// `pending`; to `failed` (`lease_expired`) when its attempts are used
    /// up; to `cancelled` when a cancel was asked. One statement.
    pub async fn rescue_expired(&self, now_ms: i64) -> Result<Rescued> {
        self.rescue(now_ms, now_ms).await
    }

    /// Like `rescue_expired`, for every running task whatever its lease:
    /// only for a store that belongs to this process alone, at start-up,
    /// when any `running` task was left by a process that died.
    pub async fn recover_after_restart(&self) -> Result<Rescued> {
        assert!(
            self.is_single_process(),
            "only a single-process store may take over every lease"
        );
        self.rescue(i64::MAX, now_ms()).await
    }

    async fn rescue(&self, expired_before: i64, now: i64) -> Result<Rescued> {
        let rows: Vec<(String,)> = on_writer!(self.backend(), |pool| {
            sqlx::query_as(
                "UPDATE tasks SET \
                     status = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled' \
                         WHEN attempts < max_attempts THEN 'pending' ELSE 'failed' END, \
                     error_code = CASE WHEN cancel_requested_at IS NOT NULL THEN $3 \
                         WHEN attempts < max_attempts THEN error_code ELSE $2 END, \
                     error_message = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled by request' \
                         WHEN attempts < max_attempts THEN error_message \
                         ELSE 'the worker running attempt ' || attempts || ' stopped renewing its lease' END, \
                     completed_at = CASE WHEN cancel_requested_at IS NULL AND attempts < max_attempts \
                         THEN NULL ELSE $1 END, \
                     run_at = $1, lease_owner = NULL, lease_expires_at = NULL, updated_at = $1 \
                 WHERE status = 'running' AND lease_expires_at < $4 \
                 RETURNING status",
            )
            .bind(now)
            .bind(ErrorCode::LeaseExpired.as_str())
            .bind(ErrorCode::Cancelled.as_str())
            .bind(expired_before)
            .fetch_all(pool)
            .await?
        });
        let rescued = count_rescued(rows.iter().map(|(s,)| s.as_str()));
        if rescued.requeued > 0 {
            self.wake_workers();
        }
        Ok(rescued)
    }
}

#[cfg(test)]
impl Store {
    /// An UPDATE with no guard at all, as a buggy writer would issue: only
    /// for tests that prove the database refuses it.
    pub(crate) async fn unfenced_set_status(&self, id: &str, status: &str) -> Result<()> {
        on_writer!(self.backend(), |pool| {
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
    /// version's format would leave it: only for tests.
    pub(crate) async fn unfenced_set_input(&self, id: &str, input: &str) -> Result<()> {
        on_writer!(self.backend(), |pool| {
            sqlx::query("UPDATE tasks SET input = $2 WHERE id = $1")
                .bind(id)
                .bind(input)
                .execute(pool)
                .await
                .map(|_| ())?
        });
        Ok(())
    }
}

fn claim_query<'q, DB: sqlx::Database>(
    sql: &'q str,
    owner: &'q str,
    lease: Duration,
) -> sqlx::query::QueryAs<'q, DB, ClaimRow, <DB as sqlx::Database>::Arguments<'q>>
where
    ClaimRow: for<'r> sqlx::FromRow<'r, DB::Row>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query_as(sql)
        .bind(owner)
        .bind(now_ms())
        .bind(millis(lease))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
