//! A new task → `pending` (a client, `Store::insert`). With an idempotency
//! key the insert is one statement of its own that may store nothing;
//! without one, inserts that arrive together share one multi-row statement
//! (see `batch`).

use crate::backend::on_writer;
use crate::placeholders::Placeholders;
use crate::row::{TASK_COLUMNS, TaskRow, json};
use crate::task::Task;
use crate::{Inserted, NewTask, Result, Store, StoreError, now_ms};

/// A new task without an idempotency key, its columns ready to bind.
pub(crate) struct Insertion {
    pub(crate) id: String,
    provider: String,
    model: String,
    route: Option<String>,
    input: String,
    metadata: Option<String>,
    max_attempts: i64,
    timeout_ms: Option<i64>,
}

impl Insertion {
    fn new(task: &NewTask) -> Self {
        Self {
            id: task.id.clone(),
            provider: task.provider.clone(),
            model: task.model.clone(),
            route: task.route.clone(),
            input: json(&task.input),
            metadata: task.metadata.as_ref().map(json),
            max_attempts: i64::from(task.max_attempts),
            timeout_ms: timeout_column(task),
        }
    }
}

impl Store {
    /// Stores a new pending task and wakes the workers; committed when this
    /// returns. With an idempotency key that was used before, stores nothing
    /// and returns the earlier task (or the conflict).
    pub async fn insert(&self, task: &NewTask) -> Result<Inserted> {
        let Some(key) = &task.idempotency else {
            // Nothing to look up on conflict: batched with other inserts.
            let row = self
                .batcher()
                .insert(Insertion::new(task))
                .await?
                .ok_or_else(|| StoreError::Corrupt {
                    id: task.id.clone(),
                    reason: "a batched insert did not return its row".into(),
                })?;
            self.wake_workers();
            return Ok(Inserted::Created(row.try_into()?));
        };
        let sql = format!(
            "INSERT INTO tasks (id, status, provider, model, input, metadata, max_attempts, \
                 timeout_ms, run_at, created_at, updated_at, idempotency_key, request_hash, route) \
             VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7, $8, $8, $8, $9, $10, $11) \
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
                .bind(timeout_column(task))
                .bind(now_ms())
                .bind(key.key.as_str())
                .bind(key.request_hash.as_str())
                .bind(task.route.as_deref())
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
    pub(crate) async fn earlier_submission(
        &self,
        key: &str,
        request_hash: &str,
    ) -> Result<Inserted> {
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
}

/// The multi-row INSERT of `rows` new tasks, eleven parameters a row (the
/// time three times: run, created and updated at).
pub(crate) fn insert_statement(rows: usize, placeholders: Placeholders) -> String {
    let values = placeholders.rows(rows, 11, |p| {
        format!("({}, 'pending', {})", p[0], p[1..].join(", "))
    });
    format!(
        "INSERT INTO tasks (id, status, provider, model, input, metadata, max_attempts, \
             timeout_ms, run_at, created_at, updated_at, route) \
         VALUES {values} RETURNING {TASK_COLUMNS}"
    )
}

/// Binds `rows` to `insert_statement(rows.len(), _)`.
pub(crate) fn bind_insertions<'q, DB: sqlx::Database>(
    sql: &'q str,
    rows: impl IntoIterator<Item = &'q Insertion>,
    now: i64,
) -> sqlx::query::QueryAs<'q, DB, TaskRow, <DB as sqlx::Database>::Arguments<'q>>
where
    TaskRow: for<'r> sqlx::FromRow<'r, DB::Row>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::query_as(sql);
    for row in rows {
        query = query
            .bind(row.id.as_str())
            .bind(row.provider.as_str())
            .bind(row.model.as_str())
            .bind(row.input.as_str())
            .bind(row.metadata.as_deref())
            .bind(row.max_attempts)
            .bind(row.timeout_ms)
            .bind(now)
            .bind(now)
            .bind(now)
            .bind(row.route.as_deref());
    }
    query
}

fn timeout_column(task: &NewTask) -> Option<i64> {
    task.timeout_ms
        .map(|t| i64::try_from(t).unwrap_or(i64::MAX))
}
