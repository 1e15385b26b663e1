//! Streamed text of running attempts, kept so that a client watching a
//! task's events sees the tokens of the current attempt from its start,
//! whenever it connects. Deltas are a view of work in progress, not a
//! status: they are written only while the attempt runs under the writer's
//! claim, and dropped once its outcome is stored.

use super::backend::{on_reader, on_writer};
use super::{Fenced, Result, Store};

/// One stored piece of an attempt's streamed text.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Delta {
    pub seq: i64,
    pub text: String,
}

impl Store {
    /// Appends text streamed by `attempt`, fenced like every worker write:
    /// nothing is stored unless the task runs under that attempt.
    pub async fn append_delta(
        &self,
        id: &str,
        attempt: u32,
        seq: i64,
        text: &str,
    ) -> Result<Fenced> {
        let rows = on_writer!(self.backend(), |pool| {
            sqlx::query(
                "INSERT INTO task_deltas (task_id, attempt, seq, text) \
                 SELECT $1, $2, $3, $4 WHERE EXISTS \
                     (SELECT 1 FROM tasks WHERE id = $1 AND status = 'running' AND attempts = $2)",
            )
            .bind(id)
            .bind(i64::from(attempt))
            .bind(seq)
            .bind(text)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(Fenced::from_rows(rows))
    }

    /// The text `attempt` streamed after `after_seq`, in order.
    pub async fn deltas(&self, id: &str, attempt: u32, after_seq: i64) -> Result<Vec<Delta>> {
        Ok(on_reader!(self.backend(), |pool| {
            sqlx::query_as(
                "SELECT seq, text FROM task_deltas \
                 WHERE task_id = $1 AND attempt = $2 AND seq > $3 ORDER BY seq",
            )
            .bind(id)
            .bind(i64::from(attempt))
            .bind(after_seq)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Forgets the streamed text of an attempt whose outcome is stored, and
    /// what earlier attempts left (a worker that was killed clears nothing).
    pub async fn clear_deltas(&self, id: &str, attempt: u32) -> Result<()> {
        on_writer!(self.backend(), |pool| {
            sqlx::query("DELETE FROM task_deltas WHERE task_id = $1 AND attempt <= $2")
                .bind(id)
                .bind(i64::from(attempt))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }
}
