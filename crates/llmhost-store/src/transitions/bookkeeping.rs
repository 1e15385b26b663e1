//! What a statement that ends an attempt or finishes a task writes besides
//! the task: the attempt's usage-ledger row, its key's tokens and released
//! reservation (`key_windows`), and the overview's rollups
//! (`task_minutes`, `task_totals`, `task_latencies`). The promise is the
//! triggers' of migrations 0007 and 0008: written in the same statement as
//! the task, so a rollup or a ledger row never disagrees with the tasks.
//!
//! On SQLite the triggers still write them, row by row: one writer
//! connection, nothing to order, and no statement that could carry them
//! (SQLite has no data-modifying WITH). On PostgreSQL the finishing
//! statement writes them itself (migration 0010 dropped the UPDATE
//! triggers): each finishing UPDATE becomes the first part of a WITH whose
//! other parts write, set-based, what its rows need. That saves a PL/pgSQL
//! call per row (the ledger) and, per UPDATE of `tasks` (claims and lease
//! renewals too), the copy of the changed rows into transition tables that
//! the statement-level rollup trigger read.
//!
//! The overview's counter rows are written in key order (`ORDER BY`
//! before `ON CONFLICT`), and every finishing statement writes the same
//! tables in the same order (one builder), so two processes' batches
//! cannot deadlock on them. A reserved key minute is updated in no set
//! order, as the row trigger did before: two batches finishing tasks of
//! the same two keys in opposite orders could still deadlock there
//! (PostgreSQL then aborts one, a `Busy` outage: its workers' outcomes
//! are not written, and their tasks run again once their leases expire).

use crate::backend::Backend;

/// What each finishing UPDATE returns on PostgreSQL for the bookkeeping:
/// the task as it is now (a finishing statement changes none of
/// `attempts`, `started_at` or the key columns, so these are also what
/// they were).
const BOOKED: &str = "tasks.id, tasks.attempts, tasks.key_id, tasks.provider, tasks.model, \
    tasks.route, tasks.status, tasks.started_at, tasks.updated_at, tasks.completed_at, \
    tasks.result, tasks.attempt_log, tasks.reserved_tokens, tasks.reserved_window";

/// The finishing `update` (an UPDATE of `tasks`, without RETURNING) as
/// `backend` runs it, returning `returning` (columns of `tasks`, unqualified)
/// for each row it moved. `outcome` is the SQL, over the updated row, of
/// the ledger outcome of the attempt it ended (`'ok'`, an error code,
/// `'cancelled'`, `'interrupted'`), or `NULL` where no attempt ended (a
/// pending task cancelled): used on PostgreSQL, where the statement writes
/// the ledger row itself.
pub(super) fn finishing(backend: &Backend, update: &str, outcome: &str, returning: &str) -> String {
    match backend {
        Backend::Sqlite(_) => format!("{update} RETURNING {returning}"),
        Backend::Postgres(_) => with_bookkeeping(update, outcome, returning),
    }
}

/// PostgreSQL: `update` and everything its rows need written, in one
/// statement. Only a finished task's tokens and reservation change its
/// key's minutes: the attempt's real tokens are added to the minute its
/// reservation is in (a minute that is over may be gone: nothing to
/// change then), or to the current minute for a task that has none. A
/// routed attempt is attributed to the last target its log
/// names for it, an attempt without such an entry to the task's own
/// provider and model (the route's alias).
pub(super) fn with_bookkeeping(update: &str, outcome: &str, returning: &str) -> String {
    const TERMINAL: &str = "('completed', 'failed', 'cancelled')";
    format!(
        "WITH done AS ({update} RETURNING {BOOKED}, CAST({outcome} AS TEXT) AS outcome), \
         booked AS ( \
             SELECT d.*, \
                 CASE WHEN d.status = 'completed' THEN CAST(d.result AS jsonb) -> 'usage' END AS usage, \
                 CASE WHEN d.route IS NOT NULL \
                     AND CAST(CAST(d.attempt_log AS jsonb) -> -1 ->> 'attempt' AS BIGINT) = d.attempts \
                     THEN CAST(d.attempt_log AS jsonb) -> -1 ->> 'target' END AS target \
             FROM done AS d), \
         spent AS ( \
             SELECT b.*, \
                 COALESCE(CAST(b.usage ->> 'input_tokens' AS BIGINT), 0) \
                     + COALESCE(CAST(b.usage ->> 'output_tokens' AS BIGINT), 0) AS tokens \
             FROM booked AS b), \
         ledger AS ( \
             INSERT INTO usage_records (task_id, attempt, key_id, provider, model, route, outcome, \
                 input_tokens, output_tokens, cached_tokens, reasoning_tokens, latency_ms, \
                 cost_nanousd, recorded_at) \
             SELECT id, attempts, key_id, \
                 CASE WHEN target IS NULL THEN provider ELSE split_part(target, '/', 1) END, \
                 CASE WHEN target IS NULL THEN model ELSE substr(target, strpos(target, '/') + 1) END, \
                 route, outcome, \
                 COALESCE(CAST(usage ->> 'input_tokens' AS BIGINT), 0), \
                 COALESCE(CAST(usage ->> 'output_tokens' AS BIGINT), 0), \
                 COALESCE(CAST(usage ->> 'cached_input_tokens' AS BIGINT), 0), \
                 COALESCE(CAST(usage ->> 'reasoning_tokens' AS BIGINT), 0), \
                 GREATEST(updated_at - COALESCE(started_at, updated_at), 0), \
                 CAST(ROUND(COALESCE(CAST(usage ->> 'cost_usd' AS DOUBLE PRECISION), 0) * 1e9) AS BIGINT), \
                 updated_at \
             FROM booked WHERE outcome IS NOT NULL \
             ON CONFLICT (task_id, attempt) DO NOTHING), \
         reserved AS ( \
             UPDATE key_windows AS w SET tokens = w.tokens + r.delta \
             FROM (SELECT key_id, reserved_window, \
                       SUM(tokens - COALESCE(reserved_tokens, 0)) AS delta \
                   FROM spent WHERE key_id IS NOT NULL AND reserved_window IS NOT NULL \
                       AND status IN {TERMINAL} \
                   GROUP BY key_id, reserved_window) AS r \
             WHERE w.key_id = r.key_id AND w.window_start = r.reserved_window), \
         unreserved AS ( \
             INSERT INTO key_windows (key_id, window_start, requests, tokens) \
             SELECT key_id, updated_at - updated_at % 60000, 0, SUM(tokens) \
             FROM spent WHERE key_id IS NOT NULL AND reserved_window IS NULL AND status = 'completed' \
             GROUP BY 1, 2 ORDER BY 1, 2 \
             ON CONFLICT (key_id, window_start) DO UPDATE SET tokens = key_windows.tokens + excluded.tokens), \
         minutes AS ( \
             INSERT INTO task_minutes (minute, provider, status, tasks) \
             SELECT COALESCE(completed_at, updated_at) - COALESCE(completed_at, updated_at) % 60000, \
                 provider, status, COUNT(*) \
             FROM booked WHERE status IN {TERMINAL} \
             GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 \
             ON CONFLICT (minute, provider, status) DO UPDATE SET tasks = task_minutes.tasks + excluded.tasks), \
         totals AS ( \
             INSERT INTO task_totals (status, tasks) \
             SELECT status, COUNT(*) FROM booked WHERE status IN {TERMINAL} \
             GROUP BY 1 ORDER BY 1 \
             ON CONFLICT (status) DO UPDATE SET tasks = task_totals.tasks + excluded.tasks), \
         latencies AS ( \
             INSERT INTO task_latencies (completed_at, provider, run_ms, first_token_ms) \
             SELECT completed_at, provider, GREATEST(completed_at - started_at, 0), \
                 CAST(CAST(attempt_log AS jsonb) -> -1 ->> 'first_token_ms' AS BIGINT) \
             FROM booked \
             WHERE status = 'completed' AND completed_at IS NOT NULL AND started_at IS NOT NULL), \
         expired AS ( \
             DELETE FROM task_latencies WHERE completed_at < \
                 (SELECT MAX(completed_at) FROM booked WHERE status = 'completed') - 604800000) \
         SELECT {returning} FROM done"
    )
}
