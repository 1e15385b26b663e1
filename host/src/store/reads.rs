//! Reading tasks. Reads see exactly what was committed; nothing here writes.

use std::collections::HashMap;
use std::time::Duration;

use super::backend::on_reader;
use super::row::{TASK_COLUMNS, TaskRow};
use super::{ListQuery, Page, Result, Store, now_ms, page};
use crate::task::{Task, TaskStatus};

impl Store {
    pub async fn get(&self, id: &str) -> Result<Option<Task>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
        let row: Option<TaskRow> = on_reader!(self.backend(), |pool| {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        row.map(Task::try_from).transpose()
    }

    /// Tasks newest first, filtered, one page after `query.cursor`.
    pub async fn list(&self, query: &ListQuery) -> Result<Page> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks \
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR provider = $2) \
               AND ($3 IS NULL OR seq < $3) \
             ORDER BY seq DESC LIMIT $4"
        );
        let rows: Vec<TaskRow> = on_reader!(self.backend(), |pool| {
            sqlx::query_as(&sql)
                .bind(query.status.map(|s| s.as_str()))
                .bind(query.provider.as_deref())
                .bind(query.cursor)
                .bind(i64::from(query.limit) + 1)
                .fetch_all(pool)
                .await?
        });
        page(rows, query.limit)
    }

    /// How long until the next pending task is due, if any is waiting.
    pub async fn next_due_in(&self) -> Result<Option<Duration>> {
        let (at,): (Option<i64>,) = on_reader!(self.backend(), |pool| {
            sqlx::query_as("SELECT MIN(run_at) FROM tasks WHERE status = 'pending'")
                .fetch_one(pool)
                .await?
        });
        let now = now_ms();
        Ok(at.map(|at| Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0))))
    }

    /// How many tasks are in each status (for metrics; one indexed scan).
    pub async fn count_by_status(&self) -> Result<HashMap<TaskStatus, i64>> {
        let rows: Vec<(String, i64)> = on_reader!(self.backend(), |pool| {
            sqlx::query_as("SELECT status, COUNT(*) FROM tasks GROUP BY status")
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(status, n)| TaskStatus::parse(&status).map(|s| (s, n)))
            .collect())
    }

    /// How many pending tasks are due now: the queue waiting for a worker.
    pub async fn count_due(&self) -> Result<i64> {
        let (n,): (i64,) = on_reader!(self.backend(), |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM tasks WHERE status = 'pending' AND run_at <= $1")
                .bind(now_ms())
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        on_reader!(self.backend(), |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }
}
