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
    rpm              BIGINT CHECK (rpm >= 1),
    tpm              BIGINT CHECK (tpm >= 1),
    max_parallel     BIGINT CHECK (max_parallel >= 1),
    budget_nanousd   BIGINT CHECK (budget_nanousd >= 0),
    budget_period_ms BIGINT CHECK (budget_period_ms >= 1),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    last_used_at     BIGINT,
    revoked_at       BIGINT                 -- set once, never cleared
);

-- The key that submitted a task; NULL for an admin's (or with auth off).
ALTER TABLE tasks ADD COLUMN key_id TEXT;
CREATE INDEX tasks_by_key ON tasks (key_id, status) WHERE key_id IS NOT NULL;

-- Requests admitted and tokens used per key per clock minute: rpm and tpm
-- are checked against the current minute's row in the admitting
-- transaction, which holds the key's row locked.
CREATE TABLE key_windows (
    key_id       TEXT    NOT NULL,
    window_start BIGINT NOT NULL,
    requests     BIGINT NOT NULL DEFAULT 0,
    tokens       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, window_start)
);

-- Synchronous (/v1) calls in flight, counted with the key's pending and
-- running tasks against max_parallel. A process killed mid-call leaves its
-- row behind until expires_at (the call's deadline).
CREATE TABLE key_calls (
    id         TEXT    NOT NULL PRIMARY KEY,
    key_id     TEXT    NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX key_calls_by_key ON key_calls (key_id, expires_at);

-- One row per provider call that returned (a task's attempt or a /v1
-- call), written in the transaction of the attempt's outcome: an attempt
-- whose outcome was never committed (its process killed) has no row, and
-- (task_id, attempt) is unique, so nothing is counted twice.
CREATE TABLE usage_records (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id          TEXT,
    attempt          BIGINT,
    key_id           TEXT,
    provider         TEXT    NOT NULL,       -- the instance called
    model            TEXT    NOT NULL,
    route            TEXT,                   -- the alias the request named, if any
    outcome          TEXT    NOT NULL,       -- 'ok' or the error code
    input_tokens     BIGINT NOT NULL,
    output_tokens    BIGINT NOT NULL,
    cached_tokens    BIGINT NOT NULL,
    reasoning_tokens BIGINT NOT NULL,
    latency_ms       BIGINT NOT NULL,
    cost_nanousd     BIGINT NOT NULL,
    recorded_at      BIGINT NOT NULL,
    UNIQUE (task_id, attempt)
);
CREATE INDEX usage_by_key ON usage_records (key_id, recorded_at);
CREATE INDEX usage_by_time ON usage_records (recorded_at);

-- A completed attempt's usage goes into the ledger in the statement that
-- completes it (whatever writes `completed`, batched or not), and its
-- tokens into its key's minute for tpm. Its cost was priced by the worker
-- (`result.usage.cost_usd`). An attempt that failed reported no tokens,
-- and one whose process died reported nothing: neither is in the ledger.
CREATE FUNCTION tasks_record_usage() RETURNS trigger AS $$
DECLARE
    v_usage jsonb := NEW.result::jsonb -> 'usage';
    v_input BIGINT := COALESCE((v_usage ->> 'input_tokens')::bigint, 0);
    v_output BIGINT := COALESCE((v_usage ->> 'output_tokens')::bigint, 0);
BEGIN
    INSERT INTO usage_records (task_id, attempt, key_id, provider, model, route, outcome,
        input_tokens, output_tokens, cached_tokens, reasoning_tokens, latency_ms,
        cost_nanousd, recorded_at)
    VALUES (NEW.id, NEW.attempts, NEW.key_id, NEW.provider, NEW.model, NULL, 'ok',
        v_input, v_output,
        COALESCE((v_usage ->> 'cached_input_tokens')::bigint, 0),
        COALESCE((v_usage ->> 'reasoning_tokens')::bigint, 0),
        GREATEST(COALESCE(NEW.completed_at - OLD.started_at, 0), 0),
        ROUND(COALESCE((v_usage ->> 'cost_usd')::double precision, 0) * 1e9)::bigint,
        NEW.completed_at);
    IF NEW.key_id IS NOT NULL THEN
        INSERT INTO key_windows (key_id, window_start, requests, tokens)
        VALUES (NEW.key_id, NEW.completed_at - NEW.completed_at % 60000, 0, v_input + v_output)
        ON CONFLICT (key_id, window_start)
        DO UPDATE SET tokens = key_windows.tokens + excluded.tokens;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_record_usage
AFTER UPDATE OF status ON tasks
FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status = 'completed')
EXECUTE FUNCTION tasks_record_usage();
