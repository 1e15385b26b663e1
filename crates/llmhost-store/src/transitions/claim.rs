//! `pending` → `running` (a worker, `Store::claim_batch`), and what a
//! running attempt writes without moving: the lease that keeps the task its
//! worker's (`Store::heartbeat`) and the targets a routed attempt has tried
//! so far (`Store::log_progress`).

use std::time::Duration;

use super::millis;
use crate::backend::{Backend, on_writer};
use crate::liveness::on_postgres;
use crate::row::{CLAIM_COLUMNS, ClaimRow, json};
use crate::task::AttemptRecord;
use crate::{ClaimedTask, Fenced, Heartbeat, Result, Store, now_ms};

impl Store {
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
                on_postgres!(&b.pool, |conn| claim_query(&sql, owner, lease)
                    .bind(max)
                    .fetch_all(conn)
                    .await?)?
            }
        };
        // A row that cannot be read fails alone: its batch-mates are now
        // running under our lease, and dropping them with it would leave
        // them to expire (and, claimed in a batch with it again and again,
        // use up their attempts). The unreadable one stays leased until
        // the rescuer returns it.
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

    /// Replaces the attempt log of a running attempt with `log` (what
    /// earlier attempts tried and this one's targets so far), fenced like
    /// the outcome will be. A routed attempt writes it before each target
    /// after the first, so that a worker killed further down the route
    /// leaves the targets it tried in the log before the rescuer's
    /// `interrupted` entry. The outcome's write replaces it again with the whole walk.
    pub async fn log_progress(
        &self,
        id: &str,
        attempt: u32,
        log: &[AttemptRecord],
    ) -> Result<Fenced> {
        let rows = on_writer!(self.backend(), |pool| {
            sqlx::query(
                "UPDATE tasks SET attempt_log = $3 \
                 WHERE id = $1 AND status = 'running' AND attempts = $2",
            )
            .bind(id)
            .bind(i64::from(attempt))
            .bind(json(&log))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(Fenced::from_rows(rows))
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
