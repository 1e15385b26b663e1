//! Expired leases: `running` → `pending` (attempts left), `failed` with
//! `lease_expired` (attempts used up) or `cancelled` (a cancel was
//! requested), for every such task in one statement (`Store::rescue_expired`,
//! and `Store::recover_after_restart` at start-up). Not fenced by an
//! attempt: the lease's expiry is what lets the rescuer take the task.
//!
//! The same statement ends the task's attempt log with the attempt its
//! worker never finished (`interrupted`, `lease_expired`, from its start
//! to now): a task that lived through a kill -9 shows every attempt it
//! had. Its target is the task's `<provider>/<model>`; a task over a route
//! has none (which target was in flight died with the worker; the ones it
//! had tried and that failed are already in the log, `Store::log_progress`),
//! and the usage ledger then attributes the attempt to the route, as it did
//! before the entry existed.

use super::bookkeeping::finishing;
use super::log_with_interrupted_attempt;
use crate::backend::on_writer;
use crate::error_code::ErrorCode;
use crate::{Rescued, Result, Store, now_ms};

impl Store {
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
        let update = format!(
            "UPDATE tasks SET attempt_log = {}, \
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
                 WHERE status = 'running' AND lease_expires_at < $4",
            log_with_interrupted_attempt(self.backend(), "$1", "$2")
        );
        let sql = finishing(
            self.backend(),
            &update,
            "CASE tasks.status WHEN 'pending' THEN 'interrupted' \
                 WHEN 'cancelled' THEN 'cancelled' ELSE tasks.error_code END",
            "status",
        );
        let rows: Vec<(String,)> = on_writer!(self.backend(), |pool| {
            sqlx::query_as(&sql)
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

/// Counts the statuses a rescue statement returned.
fn count_rescued<'a>(statuses: impl Iterator<Item = &'a str>) -> Rescued {
    statuses.fold(Rescued::default(), |mut r, status| {
        match status {
            "pending" => r.requeued += 1,
            "cancelled" => r.cancelled += 1,
            _ => r.failed += 1,
        }
        r
    })
}
