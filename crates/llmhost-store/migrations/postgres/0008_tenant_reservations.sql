-- Tenants, second part: tokens reserved at admission (so that tpm holds
-- for requests in flight, not only for finished ones), a ledger row for
-- every attempt (failed, cancelled and interrupted ones too), and ledger
-- rows that can stand for several (`requests`: the retention roll-up).
-- Kept in step with the other backend's 0008_tenant_reservations.sql.

-- A tenant's task reserves `reserved_tokens` in its key's minute
-- `reserved_window` when it is admitted; the reservation is given back
-- when the task ends (whatever ends it: a worker, the rescuer, a cancel),
-- and each attempt's real tokens are added to that same minute. NULL for
-- an admin's task and for tasks admitted before this migration.
ALTER TABLE tasks ADD COLUMN reserved_tokens BIGINT;
ALTER TABLE tasks ADD COLUMN reserved_window BIGINT;

-- The same for a `/v1` call in flight: given back when its answer is
-- recorded, or when the call ends without one.
ALTER TABLE key_calls ADD COLUMN reserved_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE key_calls ADD COLUMN window_start BIGINT NOT NULL DEFAULT 0;

-- How many provider calls a row stands for: 1, or more for a row that
-- rolled up older rows (usage retention).
ALTER TABLE usage_records ADD COLUMN requests BIGINT NOT NULL DEFAULT 1;

DROP TRIGGER tasks_record_usage ON tasks;
DROP FUNCTION tasks_record_usage();

-- Every attempt that leaves `running` is a ledger row, in the statement
-- that ends it: `ok` with the tokens and cost of its result; the error
-- code of a failed attempt (the contract reports no tokens for a failure,
-- so none are counted and it costs nothing); `cancelled`; `interrupted`
-- for one whose process stopped before it said how it ended (rescued or
-- handed back at shutdown: what the upstream did is unknown, nothing is
-- counted, and its re-run is recorded on its own). An attempt of a route
-- is attributed to the last target it called, as its log says.
CREATE FUNCTION tasks_record_attempt() RETURNS trigger AS $$
DECLARE
    v_done BOOLEAN := NEW.status = 'completed';
    v_usage jsonb := CASE WHEN NEW.status = 'completed' THEN NEW.result::jsonb -> 'usage' END;
    v_input BIGINT := COALESCE((v_usage ->> 'input_tokens')::bigint, 0);
    v_output BIGINT := COALESCE((v_usage ->> 'output_tokens')::bigint, 0);
    v_last jsonb;
    v_target TEXT;
    v_outcome TEXT;
BEGIN
    IF NEW.route IS NOT NULL AND NEW.attempt_log IS NOT NULL THEN
        v_last := NEW.attempt_log::jsonb -> -1;
        IF (v_last ->> 'attempt')::bigint = OLD.attempts THEN
            v_target := v_last ->> 'target';
        END IF;
    END IF;
    v_outcome := CASE
        WHEN v_done THEN 'ok'
        WHEN NEW.status = 'cancelled' THEN 'cancelled'
        WHEN NEW.status = 'pending' AND NEW.run_at = NEW.updated_at
             AND NEW.error_code IS NOT DISTINCT FROM OLD.error_code
             AND NEW.error_message IS NOT DISTINCT FROM OLD.error_message
             THEN 'interrupted'
        ELSE COALESCE(NEW.error_code, 'interrupted') END;
    INSERT INTO usage_records (task_id, attempt, key_id, provider, model, route, outcome,
        input_tokens, output_tokens, cached_tokens, reasoning_tokens, latency_ms,
        cost_nanousd, recorded_at)
    VALUES (NEW.id, OLD.attempts, NEW.key_id,
        CASE WHEN v_target IS NULL THEN NEW.provider ELSE split_part(v_target, '/', 1) END,
        CASE WHEN v_target IS NULL THEN NEW.model
             ELSE substr(v_target, strpos(v_target, '/') + 1) END,
        NEW.route, v_outcome, v_input, v_output,
        COALESCE((v_usage ->> 'cached_input_tokens')::bigint, 0),
        COALESCE((v_usage ->> 'reasoning_tokens')::bigint, 0),
        GREATEST(NEW.updated_at - COALESCE(OLD.started_at, NEW.updated_at), 0),
        ROUND(COALESCE((v_usage ->> 'cost_usd')::double precision, 0) * 1e9)::bigint,
        NEW.updated_at)
    ON CONFLICT (task_id, attempt) DO NOTHING;
    -- A completed attempt's tokens count in the minute its task was
    -- admitted in (where its reservation is); a task without one, in the
    -- current minute.
    IF v_done AND NEW.key_id IS NOT NULL THEN
        IF NEW.reserved_window IS NOT NULL THEN
            UPDATE key_windows SET tokens = tokens + v_input + v_output
            WHERE key_id = NEW.key_id AND window_start = NEW.reserved_window;
        ELSE
            INSERT INTO key_windows (key_id, window_start, requests, tokens)
            VALUES (NEW.key_id, NEW.updated_at - NEW.updated_at % 60000, 0, v_input + v_output)
            ON CONFLICT (key_id, window_start)
            DO UPDATE SET tokens = key_windows.tokens + excluded.tokens;
        END IF;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_record_attempt
AFTER UPDATE OF status ON tasks
FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status <> 'running')
EXECUTE FUNCTION tasks_record_attempt();

-- A task's reservation is given back once, when it reaches a terminal
-- status (terminal statuses are final, so this fires once per task). A
-- minute that is over may be gone already: nothing to give back then.
CREATE FUNCTION tasks_release_reservation() RETURNS trigger AS $$
BEGIN
    UPDATE key_windows SET tokens = tokens - NEW.reserved_tokens
    WHERE key_id = NEW.key_id AND window_start = NEW.reserved_window;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_release_reservation
AFTER UPDATE OF status ON tasks
FOR EACH ROW WHEN (NEW.reserved_tokens IS NOT NULL
    AND NEW.status IN ('completed', 'failed', 'cancelled')
    AND OLD.status NOT IN ('completed', 'failed', 'cancelled'))
EXECUTE FUNCTION tasks_release_reservation();
