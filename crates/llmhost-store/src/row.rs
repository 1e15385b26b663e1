//! How a task is laid out in a row, for every backend: decoding a row into a
//! `Task` and encoding the JSON columns.

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

use super::{ClaimedTask, StoreError};
use crate::task::{AttemptRecord, Task, TaskInput, TaskResult, TaskStatus};

/// The columns every task query selects, in this order.
pub(crate) const TASK_COLUMNS: &str = "seq, id, status, provider, model, input, metadata, result, \
     error_code, error_message, attempts, max_attempts, timeout_ms, created_at, updated_at, \
     started_at, completed_at, key_id, route, attempt_log, run_at";

/// The columns a claim returns.
pub(crate) const CLAIM_COLUMNS: &str =
    "id, attempts, max_attempts, provider, model, input, timeout_ms, run_at, route, attempt_log";

#[derive(sqlx::FromRow)]
pub struct TaskRow {
    pub seq: i64,
    pub id: String,
    status: String,
    provider: String,
    model: String,
    input: String,
    metadata: Option<String>,
    result: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    attempts: i64,
    max_attempts: i64,
    timeout_ms: Option<i64>,
    created_at: i64,
    updated_at: i64,
    started_at: Option<i64>,
    completed_at: Option<i64>,
    key_id: Option<String>,
    route: Option<String>,
    attempt_log: Option<String>,
    run_at: i64,
}

#[derive(sqlx::FromRow)]
pub struct ClaimRow {
    id: String,
    attempts: i64,
    max_attempts: i64,
    provider: String,
    model: String,
    input: String,
    timeout_ms: Option<i64>,
    run_at: i64,
    route: Option<String>,
    attempt_log: Option<String>,
}

impl TryFrom<TaskRow> for Task {
    type Error = StoreError;

    fn try_from(row: TaskRow) -> Result<Self, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            id: row.id.clone(),
            reason,
        };
        let status = TaskStatus::parse(&row.status)
            .ok_or_else(|| corrupt(format!("unknown status {:?}", row.status)))?;
        let input: TaskInput =
            serde_json::from_str(&row.input).map_err(|e| corrupt(format!("input: {e}")))?;
        let result: Option<TaskResult> = row
            .result
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| corrupt(format!("result: {e}")))?;
        let metadata = row
            .metadata
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| corrupt(format!("metadata: {e}")))?;
        let attempt_log = attempt_log(row.attempt_log.as_deref())
            .map_err(|e| corrupt(format!("attempt_log: {e}")))?;
        Ok(Task {
            route: row.route,
            attempt_log,
            status,
            input,
            result,
            metadata,
            provider: row.provider,
            model: row.model,
            error_code: row.error_code,
            error_message: row.error_message,
            attempts: to_u32(row.attempts),
            max_attempts: to_u32(row.max_attempts),
            timeout_ms: row.timeout_ms.map(to_u64),
            created_at: time(row.created_at),
            updated_at: time(row.updated_at),
            started_at: row.started_at.map(time),
            completed_at: row.completed_at.map(time),
            key_id: row.key_id,
            // Only a pending task has a next attempt; the column keeps its
            // last value after a claim.
            next_attempt_at: (status == TaskStatus::Pending).then(|| time(row.run_at)),
            task_id: row.id,
        })
    }
}

impl TryFrom<ClaimRow> for ClaimedTask {
    type Error = StoreError;

    fn try_from(row: ClaimRow) -> Result<Self, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            id: row.id.clone(),
            reason,
        };
        let input = serde_json::from_str(&row.input).map_err(|e| corrupt(format!("input: {e}")))?;
        let attempt_log = attempt_log(row.attempt_log.as_deref())
            .map_err(|e| corrupt(format!("attempt_log: {e}")))?;
        Ok(ClaimedTask {
            route: row.route,
            attempt_log,
            id: row.id,
            attempt: to_u32(row.attempts),
            max_attempts: to_u32(row.max_attempts),
            provider: row.provider,
            model: row.model,
            input,
            timeout_ms: row.timeout_ms.map(to_u64),
            due_at_ms: row.run_at,
        })
    }
}

/// The attempt log column: NULL before any attempt recorded one.
fn attempt_log(column: Option<&str>) -> serde_json::Result<Vec<AttemptRecord>> {
    column.map_or(Ok(Vec::new()), serde_json::from_str)
}

/// Serialises a JSON column. Our own types always serialise.
pub(crate) fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("task data serialises to JSON")
}

pub(crate) fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
