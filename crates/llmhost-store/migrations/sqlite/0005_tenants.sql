-- Tenants: API keys with their scope and limits, the task's owner, the
-- admission counters that make limits hold across processes, and the usage
-- ledger budgets and reports are computed from. Money is integer
-- nano-dollars (1e-9 USD), so that sums are exact.

-- Only a SHA-256 of each key is kept: a key is 256 random bits, so a fast
-- hash leaves nothing to guess, and a slow one (argon2) would cost every
-- request its CPU time for no gain.
CREATE TABLE api_keys (
    id               TEXT    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL,
    key_hash         TEXT    NOT NULL UNIQUE,
    key_prefix       TEXT    NOT NULL,       -- the key's first characters, to recognise it
    models           TEXT    NOT NULL,       -- JSON array of patterns; [] allows every model
    rpm              INTEGER CHECK (rpm >= 1),
    tpm              INTEGER CHECK (tpm >= 1),
    max_parallel     INTEGER CHECK (max_parallel >= 1),
    budget_nanousd   INTEGER CHECK (budget_nanousd >= 0),
    budget_period_ms INTEGER CHECK (budget_period_ms >= 1),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    last_used_at     INTEGER,
    revoked_at       INTEGER                 -- set once, never cleared
);

-- The key that submitted a task; NULL for an admin's (or with auth off).
ALTER TABLE tasks ADD COLUMN key_id TEXT;
CREATE INDEX tasks_by_key ON tasks (key_id, status) WHERE key_id IS NOT NULL;

-- Requests admitted and tokens used per key per clock minute: rpm and tpm
-- are checked against the current minute's row in the admitting
-- transaction, which holds the key's row locked.
CREATE TABLE key_windows (
    key_id       TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    requests     INTEGER NOT NULL DEFAULT 0,
    tokens       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, window_start)
);

-- Synchronous (/v1) calls in flight, counted with the key's pending and
-- running tasks against max_parallel. A process killed mid-call leaves its
-- row behind until expires_at (the call's deadline).
CREATE TABLE key_calls (
    id         TEXT    NOT NULL PRIMARY KEY,
    key_id     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX key_calls_by_key ON key_calls (key_id, expires_at);

-- One row per provider call that returned (a task's attempt or a /v1
-- call), written in the transaction of the attempt's outcome: an attempt
-- whose outcome was never committed (its process killed) has no row, and
-- (task_id, attempt) is unique, so nothing is counted twice.
CREATE TABLE usage_records (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id          TEXT,
    attempt          INTEGER,
    key_id           TEXT,
    provider         TEXT    NOT NULL,       -- the instance called
    model            TEXT    NOT NULL,
    route            TEXT,                   -- the alias the request named, if any
    outcome          TEXT    NOT NULL,       -- 'ok' or the error code
    input_tokens     INTEGER NOT NULL,
    output_tokens    INTEGER NOT NULL,
    cached_tokens    INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    latency_ms       INTEGER NOT NULL,
    cost_nanousd     INTEGER NOT NULL,
    recorded_at      INTEGER NOT NULL,
    UNIQUE (task_id, attempt)
);
CREATE INDEX usage_by_key ON usage_records (key_id, recorded_at);
CREATE INDEX usage_by_time ON usage_records (recorded_at);

-- A completed attempt's usage goes into the ledger in the statement that
-- completes it (whatever writes `completed`, batched or not), and its
-- tokens into its key's minute for tpm. Its cost was priced by the worker
-- (`result.usage.cost_usd`). An attempt that failed reported no tokens,
-- and one whose process died reported nothing: neither is in the ledger.
CREATE TRIGGER tasks_record_usage
AFTER UPDATE OF status ON tasks
FOR EACH ROW WHEN OLD.status = 'running' AND NEW.status = 'completed'
BEGIN
    INSERT INTO usage_records (task_id, attempt, key_id, provider, model, route, outcome,
        input_tokens, output_tokens, cached_tokens, reasoning_tokens, latency_ms,
        cost_nanousd, recorded_at)
    VALUES (NEW.id, NEW.attempts, NEW.key_id, NEW.provider, NEW.model, NULL, 'ok',
        COALESCE(json_extract(NEW.result, '$.usage.input_tokens'), 0),
        COALESCE(json_extract(NEW.result, '$.usage.output_tokens'), 0),
        COALESCE(json_extract(NEW.result, '$.usage.cached_input_tokens'), 0),
        COALESCE(json_extract(NEW.result, '$.usage.reasoning_tokens'), 0),
        MAX(COALESCE(NEW.completed_at - OLD.started_at, 0), 0),
        CAST(ROUND(COALESCE(json_extract(NEW.result, '$.usage.cost_usd'), 0) * 1e9) AS INTEGER),
        NEW.completed_at);
    INSERT INTO key_windows (key_id, window_start, requests, tokens)
    SELECT NEW.key_id, NEW.completed_at - NEW.completed_at % 60000, 0,
        COALESCE(json_extract(NEW.result, '$.usage.input_tokens'), 0)
        + COALESCE(json_extract(NEW.result, '$.usage.output_tokens'), 0)
    WHERE NEW.key_id IS NOT NULL
    ON CONFLICT (key_id, window_start) DO UPDATE SET tokens = tokens + excluded.tokens;
END;
