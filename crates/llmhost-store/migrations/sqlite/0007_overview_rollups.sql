-- The overview's figures, kept up to date by the database as tasks finish,
-- so that reading them costs the same on a store of any size: finished
-- tasks per clock minute, instance and outcome; every task that ever
-- finished, by outcome, less those deleted; and per completed task its run
-- time and time to first token, for the latency percentiles. Kept in step
-- with the other backend's 0007_overview_rollups.sql.
--
-- Written by triggers on `tasks`, whatever statement finishes a task
-- (completed in a batch, failed, cancelled, inserted already finished), in
-- that statement's transaction: a rollup never disagrees with the tasks.

-- `minute`: Unix ms of the minute's start (UTC), of the task's completed_at.
CREATE TABLE task_minutes (
    minute   INTEGER NOT NULL,
    provider TEXT    NOT NULL,
    status   TEXT    NOT NULL CHECK (status IN ('completed', 'failed', 'cancelled')),
    tasks    INTEGER NOT NULL,
    PRIMARY KEY (minute, provider, status)
) WITHOUT ROWID;

-- Finished tasks in the store by outcome (pending and running are few and
-- counted from the tasks themselves).
CREATE TABLE task_totals (
    status TEXT    NOT NULL PRIMARY KEY CHECK (status IN ('completed', 'failed', 'cancelled')),
    tasks  INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per completed task of the last week (the overview's widest
-- window; older rows are removed as new ones arrive): run time of the
-- final attempt (claim to completion) and its time to first token, from
-- the attempt log's last entry (NULL when the log has none).
CREATE TABLE task_latencies (
    completed_at   INTEGER NOT NULL,
    provider       TEXT    NOT NULL,
    run_ms         INTEGER NOT NULL,
    first_token_ms INTEGER
);
CREATE INDEX task_latencies_by_time ON task_latencies (completed_at);

CREATE TRIGGER tasks_roll_up_finished
AFTER UPDATE OF status ON tasks
FOR EACH ROW WHEN OLD.status IN ('pending', 'running')
    AND NEW.status IN ('completed', 'failed', 'cancelled')
BEGIN
    INSERT INTO task_minutes (minute, provider, status, tasks)
    VALUES (COALESCE(NEW.completed_at, NEW.updated_at)
                - COALESCE(NEW.completed_at, NEW.updated_at) % 60000,
            NEW.provider, NEW.status, 1)
    ON CONFLICT (minute, provider, status) DO UPDATE SET tasks = tasks + 1;
    INSERT INTO task_totals (status, tasks) VALUES (NEW.status, 1)
    ON CONFLICT (status) DO UPDATE SET tasks = tasks + 1;
    INSERT INTO task_latencies (completed_at, provider, run_ms, first_token_ms)
    SELECT NEW.completed_at, NEW.provider, MAX(NEW.completed_at - NEW.started_at, 0),
        json_extract(NEW.attempt_log, '$[#-1].first_token_ms')
    WHERE NEW.status = 'completed' AND NEW.completed_at IS NOT NULL
        AND NEW.started_at IS NOT NULL;
    DELETE FROM task_latencies WHERE NEW.status = 'completed'
        AND completed_at < NEW.completed_at - 604800000;
END;

-- A task inserted already finished (an import, a benchmark's seed).
CREATE TRIGGER tasks_roll_up_inserted_finished
AFTER INSERT ON tasks
FOR EACH ROW WHEN NEW.status IN ('completed', 'failed', 'cancelled')
BEGIN
    INSERT INTO task_minutes (minute, provider, status, tasks)
    VALUES (COALESCE(NEW.completed_at, NEW.updated_at)
                - COALESCE(NEW.completed_at, NEW.updated_at) % 60000,
            NEW.provider, NEW.status, 1)
    ON CONFLICT (minute, provider, status) DO UPDATE SET tasks = tasks + 1;
    INSERT INTO task_totals (status, tasks) VALUES (NEW.status, 1)
    ON CONFLICT (status) DO UPDATE SET tasks = tasks + 1;
    INSERT INTO task_latencies (completed_at, provider, run_ms, first_token_ms)
    SELECT NEW.completed_at, NEW.provider, MAX(NEW.completed_at - NEW.started_at, 0),
        json_extract(NEW.attempt_log, '$[#-1].first_token_ms')
    WHERE NEW.status = 'completed' AND NEW.completed_at IS NOT NULL
        AND NEW.started_at IS NOT NULL;
END;

-- A finished task deleted (retention) leaves the store's totals; the
-- minutes keep what finished when, as history.
CREATE TRIGGER tasks_roll_up_deleted
AFTER DELETE ON tasks
FOR EACH ROW WHEN OLD.status IN ('completed', 'failed', 'cancelled')
BEGIN
    UPDATE task_totals SET tasks = tasks - 1 WHERE status = OLD.status;
END;

-- What finished before this migration.
INSERT INTO task_minutes (minute, provider, status, tasks)
SELECT COALESCE(completed_at, updated_at) - COALESCE(completed_at, updated_at) % 60000,
    provider, status, COUNT(*)
FROM tasks WHERE status IN ('completed', 'failed', 'cancelled')
GROUP BY 1, provider, status;
INSERT INTO task_totals (status, tasks)
SELECT status, COUNT(*) FROM tasks
WHERE status IN ('completed', 'failed', 'cancelled') GROUP BY status;
INSERT INTO task_latencies (completed_at, provider, run_ms, first_token_ms)
SELECT completed_at, provider, MAX(completed_at - started_at, 0),
    json_extract(attempt_log, '$[#-1].first_token_ms')
FROM tasks
WHERE status = 'completed' AND completed_at IS NOT NULL AND started_at IS NOT NULL
    AND completed_at >= CAST(strftime('%s', 'now') AS INTEGER) * 1000 - 604800000;
