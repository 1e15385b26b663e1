//! Every write that moves a task from one status to another: the edges of
//! `TaskStatus::TRANSITIONS`, and nothing else. Each is one conditional
//! statement with the status it expects in its WHERE clause, never a
//! read-modify-write. A worker's writes also require the attempt its claim
//! returned, so a worker that lost its task writes nothing; each tells its
//! caller what happened in its own outcome type (`Fenced`, `Retry`,
//! `Cancel`, …).
//!
//! One file per group of edges. Two edges are written in batches under load
//! (keyless inserts and completions): their statements are here too, and
//! `batch` only decides which queued rows share a statement.

mod bookkeeping;
mod cancel;
mod claim;
mod finish;
mod insert;
mod rescue;

use std::time::Duration;

use crate::backend::Backend;

pub(crate) use finish::{Completion, bind_completions, completion_statement};
pub(crate) use insert::{Insertion, bind_insertions, insert_statement};

/// A duration as the store's clock counts it (ms), saturating.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The task's `attempt_log` with its running attempt appended as
/// `interrupted` (a worker that stopped, or handed it back, before it said
/// how the attempt ended), in the backend's JSON dialect: `now` and `code`
/// are SQL (a placeholder, or `NULL` for no error code). The entry has the
/// fields of `task::AttemptRecord`, `started_at` in RFC 3339 as serde
/// writes it. Its target is the task's `<provider>/<model>`; a task over
/// a route gets none (which target was in flight is not known here), and
/// the usage ledger then attributes the attempt to the route, as
/// it does for an attempt without an entry.
fn log_with_interrupted_attempt(backend: &Backend, now: &str, code: &str) -> String {
    match backend {
        // A merge patch with a null member removes it.
        Backend::Sqlite(_) => format!(
            "json_insert(COALESCE(attempt_log, '[]'), '$[#]', json_patch(json_object(\
                 'attempt', attempts, \
                 'target', provider || '/' || model, \
                 'outcome', 'interrupted', 'error_code', {code}, \
                 'duration_ms', MAX({now} - COALESCE(started_at, {now}), 0), \
                 'started_at', strftime('%Y-%m-%dT%H:%M:%fZ', COALESCE(started_at, {now}) / 1000.0, 'unixepoch')), \
                 CASE WHEN route IS NULL THEN '{{}}' ELSE '{{\"target\":null}}' END))"
        ),
        Backend::Postgres(_) => format!(
            "(COALESCE(attempt_log, '[]')::jsonb || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(\
                 'attempt', attempts, \
                 'target', CASE WHEN route IS NULL THEN provider || '/' || model END, \
                 'outcome', 'interrupted', 'error_code', {code}::text, \
                 'duration_ms', GREATEST({now} - COALESCE(started_at, {now}), 0), \
                 'started_at', to_char(to_timestamp(COALESCE(started_at, {now}) / 1000.0) AT TIME ZONE 'UTC', \
                     'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')))))::text"
        ),
    }
}
