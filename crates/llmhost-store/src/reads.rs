//! Reading tasks. Reads see exactly what was committed; nothing here writes.

use std::collections::HashMap;
use std::time::Duration;

use super::backend::{Backend, on_reader};
use super::row::{TASK_COLUMNS, TaskRow};
use super::{ListQuery, Page, Result, Store, now_ms};
use crate::liveness::on_postgres;
use crate::task::{Task, TaskStatus};

impl Store {
    pub async fn get(&self, id: &str) -> Result<Option<Task>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
        let row: Option<TaskRow> = on_reader!(self.backend(), |pool| {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        row.map(Task::try_from).transpose()
    }

    /// Tasks newest first, filtered, one page after `query.cursor`. Only
    /// the filters given are in the statement, so that the database can
    /// use the index of the one that is (a `$1 IS NULL OR ...` test would
    /// scan the table).
    pub async fn list(&self, query: &ListQuery) -> Result<Page> {
        let mut conditions = Vec::new();
        let mut next = 0;
        let mut param = |condition: &str| {
            next += 1;
            conditions.push(condition.replace('?', &format!("${next}")));
        };
        if query.status.is_some() {
            param("status = ?");
        }
        if query.provider.is_some() {
            param("provider = ?");
        }
        if query.route.is_some() {
            // One parameter for both: a routed task's provider is its alias.
            param("(provider = ? AND route = ?)");
        }
        if query.model.is_some() {
            param("model = ?");
        }
        if query.error_code.is_some() {
            param("error_code = ?");
        }
        if query.created_from.is_some() {
            param("created_at >= ?");
        }
        if query.created_to.is_some() {
            param("created_at < ?");
        }
        if query.search.is_some() {
            // Both columns are unique: at most two rows, each by its index.
            param("(id = ? OR idempotency_key = ?)");
        }
        if query.key_id.is_some() {
            param("key_id = ?");
        }
        if query.cursor.is_some() {
            param("seq < ?");
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks {filter} ORDER BY seq DESC LIMIT ${}",
            next + 1
        );
        let rows: Vec<TaskRow> = on_reader!(self.backend(), |pool| {
            let mut q = sqlx::query_as(&sql);
            if let Some(status) = query.status {
                q = q.bind(status.as_str());
            }
            // In the order of the conditions above.
            for text in [
                &query.provider,
                &query.route,
                &query.model,
                &query.error_code,
            ]
            .into_iter()
            .flatten()
            {
                q = q.bind(text.as_str());
            }
            for time in [query.created_from, query.created_to].into_iter().flatten() {
                q = q.bind(time);
            }
            if let Some(search) = &query.search {
                q = q.bind(search.as_str());
            }
            if let Some(key_id) = &query.key_id {
                q = q.bind(key_id.as_str());
            }
            if let Some(cursor) = query.cursor {
                q = q.bind(cursor);
            }
            q.bind(i64::from(query.limit) + 1).fetch_all(pool).await?
        });
        page(rows, query.limit)
    }

    /// How long until the next pending task is due, if any is waiting.
    pub async fn next_due_in(&self) -> Result<Option<Duration>> {
        // SQLite, without statistics, would rather read every pending row
        // through `tasks_by_status`; the claimable index has the minimum
        // first.
        let (at,): (Option<i64>,) = match self.backend() {
            Backend::Sqlite(b) => {
                sqlx::query_as(
                    "SELECT MIN(run_at) FROM tasks INDEXED BY tasks_claimable \
                     WHERE status = 'pending'",
                )
                .fetch_one(&b.readers)
                .await?
            }
            Backend::Postgres(b) => on_postgres!(&b.pool, |conn| {
                sqlx::query_as("SELECT MIN(run_at) FROM tasks WHERE status = 'pending'")
                    .fetch_one(conn)
                    .await?
            })?,
        };
        let now = now_ms();
        Ok(at.map(|at| Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0))))
    }

    /// Whether any task is running (one look in the status index): with
    /// the embedded store, whether the lease rescuer has anything to watch.
    pub async fn any_running(&self) -> Result<bool> {
        let (any,): (bool,) = on_reader!(self.backend(), |pool| {
            sqlx::query_as("SELECT EXISTS (SELECT 1 FROM tasks WHERE status = 'running')")
                .fetch_one(pool)
                .await?
        });
        Ok(any)
    }

    /// How many tasks are in each status (metrics, the overview): the
    /// finished from their rollup (`task_totals`), the pending and running
    /// (the few a store holds at once) counted, so that a scrape costs the
    /// same on a store of any size.
    pub async fn count_by_status(&self) -> Result<HashMap<TaskStatus, i64>> {
        let rows: Vec<(String, i64)> = on_reader!(self.backend(), |pool| {
            sqlx::query_as(
                "SELECT status, tasks FROM task_totals \
                 UNION ALL \
                 SELECT status, COUNT(*) FROM tasks \
                 WHERE status IN ('pending', 'running') GROUP BY status",
            )
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
}

/// Turns `limit + 1` rows (newest first) into a page and its cursor.
fn page(mut rows: Vec<TaskRow>, limit: u32) -> Result<Page> {
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
