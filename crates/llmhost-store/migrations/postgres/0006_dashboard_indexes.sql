-- Kept in step with migrations/sqlite/0006_dashboard_indexes.sql.
-- What the dashboard's reads need to stay fast on a large store: the task
-- list filtered by model, error code or creation time (newest first, paged
-- by `seq`), and the overview's throughput and latency over a recent window,
-- answered from one index (completion time first) without reading rows.
CREATE INDEX tasks_by_model ON tasks (model, seq);
CREATE INDEX tasks_by_error_code ON tasks (error_code, seq) WHERE error_code IS NOT NULL;
CREATE INDEX tasks_by_created ON tasks (created_at);
CREATE INDEX tasks_by_completion ON tasks (completed_at, status, provider, started_at)
    WHERE completed_at IS NOT NULL;
