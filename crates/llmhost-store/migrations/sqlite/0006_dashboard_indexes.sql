-- What the dashboard's reads need to stay fast on a large store: the task
-- list filtered by model, error code or creation time (newest first, paged
-- by `seq`), and the overview's throughput, failures and latency over a
-- recent window, answered from indexes without reading rows or sorting.
CREATE INDEX tasks_by_model ON tasks (model, seq);
CREATE INDEX tasks_by_error_code ON tasks (error_code, seq) WHERE error_code IS NOT NULL;
CREATE INDEX tasks_by_created ON tasks (created_at);
-- Finished tasks by outcome and time: the overview's slices are counts of
-- ranges of it, and its latency samples the latest completed entries.
CREATE INDEX tasks_by_completion ON tasks (status, completed_at, provider, started_at)
    WHERE completed_at IS NOT NULL;
-- Finished tasks per provider and outcome, read in that order: counted
-- without sorting.
CREATE INDEX tasks_by_provider_completion ON tasks (provider, status, completed_at)
    WHERE completed_at IS NOT NULL;
