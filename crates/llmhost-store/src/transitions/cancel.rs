//! `pending` → `cancelled` on a client's request (`Store::cancel`). A
//! running task is only marked (`cancel_requested_at`): the API never
//! writes the terminal status of a running task, its worker does
//! (`record_cancelled`, in `finish`), or the rescuer once the lease expired.

use super::bookkeeping::finishing;
use crate::backend::on_writer;
use crate::error_code::ErrorCode;
use crate::{Cancel, Result, Store, StoreError, now_ms};

/// Which of a cancel's statements changed the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CancelWrite {
    Cancelled,
    Requested,
    Neither,
}

impl Store {
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
        // A pending task has no attempt running: nothing for the ledger.
        let sql = finishing(
            self.backend(),
            "UPDATE tasks SET status = 'cancelled', error_code = $2, \
                 error_message = 'cancelled by request', completed_at = $3, updated_at = $3 \
             WHERE id = $1 AND status = 'pending'",
            "NULL",
            "id",
        );
        let cancelled = on_writer!(self.backend(), |pool| {
            sqlx::query(&sql)
                .bind(id)
                .bind(ErrorCode::Cancelled.as_str())
                .bind(now)
                .fetch_all(pool)
                .await?
                .len()
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
}
