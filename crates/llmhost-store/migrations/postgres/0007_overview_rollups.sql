-- Kept in step with migrations/sqlite/0007_overview_rollups.sql.
-- The overview's figures, kept up to date by the database as tasks finish,
-- so that reading them costs the same on a store of any size: finished
-- tasks per clock minute, instance and outcome; every task that ever
-- finished, by outcome, less those deleted; and per completed task its run
-- time and time to first token, for the latency percentiles.
--
-- Written by triggers on `tasks`, whatever statement finishes a task
-- (completed in a batch, failed, cancelled, inserted already finished), in
-- that statement's transaction: a rollup never disagrees with the tasks.
-- The triggers run once per statement, over its transition tables, and
-- write the counters in key order: a batch of completions from one process
-- and one from another lock the same counter rows in the same order, so
-- they cannot deadlock (row-level triggers would lock them in the order
-- the rows happen to be updated).

-- `minute`: Unix ms of the minute's start (UTC), of the task's completed_at.
CREATE TABLE task_minutes (
    minute   BIGINT NOT NULL,
    provider TEXT   NOT NULL,
    status   TEXT   NOT NULL CHECK (status IN ('completed', 'failed', 'cancelled')),
    tasks    BIGINT NOT NULL,
    PRIMARY KEY (minute, provider, status)
);

-- Finished tasks in the store by outcome (pending and running are few and
-- counted from the tasks themselves).
CREATE TABLE task_totals (
    status TEXT   NOT NULL PRIMARY KEY CHECK (status IN ('completed', 'failed', 'cancelled')),
    tasks  BIGINT NOT NULL
);

-- One row per completed task of the last week (the overview's widest
-- window; older rows are removed as new ones arrive): run time of the
-- final attempt (claim to completion) and its time to first token, from
-- the attempt log's last entry (NULL when the log has none).
CREATE TABLE task_latencies (
    completed_at   BIGINT NOT NULL,
    provider       TEXT   NOT NULL,
    run_ms         BIGINT NOT NULL,
    first_token_ms BIGINT
);
CREATE INDEX task_latencies_by_time ON task_latencies (completed_at);

-- The rows an UPDATE took from pending or running to a terminal status.
-- (Transition tables are visible only in the trigger's own function,
-- hence one function per event.)
CREATE FUNCTION tasks_roll_up_updated() RETURNS trigger AS $$
BEGIN
    -- Most statements (claims, heartbeats, submissions) finish nothing.
    IF NOT EXISTS (SELECT 1 FROM finished_new AS n JOIN finished_old AS o ON o.seq = n.seq
    WHERE o.status IN ('pending', 'running') AND n.status IN ('completed', 'failed', 'cancelled')) THEN
        RETURN NULL;
    END IF;
    INSERT INTO task_minutes (minute, provider, status, tasks)
    SELECT COALESCE(n.completed_at, n.updated_at) - COALESCE(n.completed_at, n.updated_at) % 60000,
        n.provider, n.status, COUNT(*)
    FROM finished_new AS n JOIN finished_old AS o ON o.seq = n.seq
    WHERE o.status IN ('pending', 'running') AND n.status IN ('completed', 'failed', 'cancelled')
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (minute, provider, status)
    DO UPDATE SET tasks = task_minutes.tasks + excluded.tasks;
    INSERT INTO task_totals (status, tasks)
    SELECT n.status, COUNT(*) FROM finished_new AS n JOIN finished_old AS o ON o.seq = n.seq
    WHERE o.status IN ('pending', 'running') AND n.status IN ('completed', 'failed', 'cancelled')
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (status) DO UPDATE SET tasks = task_totals.tasks + excluded.tasks;
    INSERT INTO task_latencies (completed_at, provider, run_ms, first_token_ms)
    SELECT n.completed_at, n.provider, GREATEST(n.completed_at - n.started_at, 0),
        (n.attempt_log::jsonb -> -1 ->> 'first_token_ms')::bigint
    FROM finished_new AS n JOIN finished_old AS o ON o.seq = n.seq
    WHERE o.status IN ('pending', 'running') AND n.status IN ('completed', 'failed', 'cancelled')
      AND n.status = 'completed' AND n.completed_at IS NOT NULL AND n.started_at IS NOT NULL;
    DELETE FROM task_latencies
    WHERE completed_at < (SELECT MAX(n.completed_at) FROM finished_new AS n JOIN finished_old AS o ON o.seq = n.seq
    WHERE o.status IN ('pending', 'running') AND n.status IN ('completed', 'failed', 'cancelled')) - 604800000;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_roll_up_finished
AFTER UPDATE ON tasks
REFERENCING OLD TABLE AS finished_old NEW TABLE AS finished_new
FOR EACH STATEMENT EXECUTE FUNCTION tasks_roll_up_updated();

-- A task inserted already finished (an import, a benchmark's seed).
CREATE FUNCTION tasks_roll_up_inserted() RETURNS trigger AS $$
BEGIN
    -- Most statements (claims, heartbeats, submissions) finish nothing.
    IF NOT EXISTS (SELECT 1 FROM finished_new AS n WHERE n.status IN ('completed', 'failed', 'cancelled')) THEN
        RETURN NULL;
    END IF;
    INSERT INTO task_minutes (minute, provider, status, tasks)
    SELECT COALESCE(n.completed_at, n.updated_at) - COALESCE(n.completed_at, n.updated_at) % 60000,
        n.provider, n.status, COUNT(*)
    FROM finished_new AS n WHERE n.status IN ('completed', 'failed', 'cancelled')
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (minute, provider, status)
    DO UPDATE SET tasks = task_minutes.tasks + excluded.tasks;
    INSERT INTO task_totals (status, tasks)
    SELECT n.status, COUNT(*) FROM finished_new AS n WHERE n.status IN ('completed', 'failed', 'cancelled')
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (status) DO UPDATE SET tasks = task_totals.tasks + excluded.tasks;
    INSERT INTO task_latencies (completed_at, provider, run_ms, first_token_ms)
    SELECT n.completed_at, n.provider, GREATEST(n.completed_at - n.started_at, 0),
        (n.attempt_log::jsonb -> -1 ->> 'first_token_ms')::bigint
    FROM finished_new AS n WHERE n.status IN ('completed', 'failed', 'cancelled')
      AND n.status = 'completed' AND n.completed_at IS NOT NULL AND n.started_at IS NOT NULL;
    DELETE FROM task_latencies
    WHERE completed_at < (SELECT MAX(n.completed_at) FROM finished_new AS n WHERE n.status IN ('completed', 'failed', 'cancelled')) - 604800000;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_roll_up_inserted_finished
AFTER INSERT ON tasks
REFERENCING NEW TABLE AS finished_new
FOR EACH STATEMENT EXECUTE FUNCTION tasks_roll_up_inserted();

-- A finished task deleted (retention) leaves the store's totals; the
-- minutes keep what finished when, as history.
CREATE FUNCTION tasks_roll_up_deleted() RETURNS trigger AS $$
BEGIN
    UPDATE task_totals AS t SET tasks = t.tasks - d.n
    FROM (SELECT status, COUNT(*) AS n FROM deleted_old
          WHERE status IN ('completed', 'failed', 'cancelled') GROUP BY status) AS d
    WHERE t.status = d.status;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_roll_up_deleted
AFTER DELETE ON tasks
REFERENCING OLD TABLE AS deleted_old
FOR EACH STATEMENT EXECUTE FUNCTION tasks_roll_up_deleted();

-- What finished before this migration.
INSERT INTO task_minutes (minute, provider, status, tasks)
SELECT COALESCE(completed_at, updated_at) - COALESCE(completed_at, updated_at) % 60000 AS minute,
    provider, status, COUNT(*)
FROM tasks WHERE status IN ('completed', 'failed', 'cancelled')
GROUP BY 1, provider, status;
INSERT INTO task_totals (status, tasks)
SELECT status, COUNT(*) FROM tasks
WHERE status IN ('completed', 'failed', 'cancelled') GROUP BY status;
INSERT INTO task_latencies (completed_at, provider, run_ms, first_token_ms)
SELECT completed_at, provider, GREATEST(completed_at - started_at, 0),
    (attempt_log::jsonb -> -1 ->> 'first_token_ms')::bigint
FROM tasks
WHERE status = 'completed' AND completed_at IS NOT NULL AND started_at IS NOT NULL
    AND completed_at >= (EXTRACT(EPOCH FROM now()) * 1000)::bigint - 604800000;
