-- The task table: the one place a task's status lives. Kept in step with
-- migrations/sqlite/0001_tasks.sql; times are Unix milliseconds (UTC).
CREATE TABLE tasks (
    seq                 BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- claims and cursors
    id                  TEXT    NOT NULL UNIQUE,
    status              TEXT    NOT NULL
                        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    provider            TEXT    NOT NULL,
    model               TEXT    NOT NULL,
    input               TEXT    NOT NULL,
    metadata            TEXT,
    result              TEXT,
    error_code          TEXT,
    error_message       TEXT,
    -- The fencing token: a claim increments it, and every write of a worker
    -- requires the value its claim returned.
    attempts            BIGINT  NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts        BIGINT  NOT NULL CHECK (max_attempts >= 1),
    timeout_ms          BIGINT,
    run_at              BIGINT  NOT NULL,       -- not claimable before this time
    lease_owner         TEXT,
    lease_expires_at    BIGINT,
    cancel_requested_at BIGINT,
    idempotency_key     TEXT    UNIQUE,
    request_hash        TEXT,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL,
    started_at          BIGINT,
    completed_at        BIGINT
);

-- Claims scan only pending tasks, oldest due first.
CREATE INDEX tasks_claimable ON tasks (run_at, seq) WHERE status = 'pending';
-- The rescuer scans only running tasks by lease expiry.
CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE status = 'running';
CREATE INDEX tasks_by_status ON tasks (status, seq);
CREATE INDEX tasks_by_provider ON tasks (provider, seq);

-- Terminal states are final, whatever code runs against the database: the
-- original system's bug was a second writer overwriting a terminal status.
CREATE FUNCTION tasks_terminal_status_is_final() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'llmhost: a task in a terminal status cannot change'
        USING ERRCODE = 'check_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_terminal_status_is_final
BEFORE UPDATE ON tasks
FOR EACH ROW WHEN (OLD.status IN ('completed', 'failed', 'cancelled'))
EXECUTE FUNCTION tasks_terminal_status_is_final();

-- Wake workers in every process when a task becomes claimable, and tell
-- them when a client asks to cancel a running task. Notifications are sent
-- at commit; workers poll as well, so one that is missed only delays.
CREATE FUNCTION tasks_notify_pending() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('llmhost_work', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_notify_pending
AFTER INSERT OR UPDATE OF status ON tasks
FOR EACH ROW WHEN (NEW.status = 'pending')
EXECUTE FUNCTION tasks_notify_pending();

CREATE FUNCTION tasks_notify_cancel() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('llmhost_cancel', NEW.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_notify_cancel
AFTER UPDATE OF cancel_requested_at ON tasks
FOR EACH ROW WHEN (NEW.status = 'running' AND OLD.cancel_requested_at IS NULL
                   AND NEW.cancel_requested_at IS NOT NULL)
EXECUTE FUNCTION tasks_notify_cancel();
