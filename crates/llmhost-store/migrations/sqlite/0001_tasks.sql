-- The task table: the one place a task's status lives. Times are Unix
-- milliseconds (UTC). JSON columns hold the serialised input, result and
-- metadata; the host never queries inside them.
CREATE TABLE tasks (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT, -- creation order: claims and cursors
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
    attempts            INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts        INTEGER NOT NULL CHECK (max_attempts >= 1),
    timeout_ms          INTEGER,
    run_at              INTEGER NOT NULL,       -- not claimable before this time
    lease_owner         TEXT,
    lease_expires_at    INTEGER,
    cancel_requested_at INTEGER,
    idempotency_key     TEXT    UNIQUE,
    request_hash        TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    started_at          INTEGER,
    completed_at        INTEGER
);

-- Claims scan only pending tasks, oldest due first.
CREATE INDEX tasks_claimable ON tasks (run_at, seq) WHERE status = 'pending';
-- The rescuer scans only running tasks by lease expiry.
CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE status = 'running';
CREATE INDEX tasks_by_status ON tasks (status, seq);
CREATE INDEX tasks_by_provider ON tasks (provider, seq);

-- Terminal states are final, whatever code runs against the database: the
-- original system's bug was a second writer overwriting a terminal status.
CREATE TRIGGER tasks_terminal_status_is_final
BEFORE UPDATE ON tasks
FOR EACH ROW WHEN OLD.status IN ('completed', 'failed', 'cancelled')
BEGIN
    SELECT RAISE(ABORT, 'llmhost: a task in a terminal status cannot change');
END;
