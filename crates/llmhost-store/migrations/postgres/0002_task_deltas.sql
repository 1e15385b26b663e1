-- Text a running attempt has streamed so far, for clients watching the
-- task's events. Kept in step with migrations/sqlite/0002_task_deltas.sql.
CREATE TABLE task_deltas (
    task_id TEXT   NOT NULL,
    attempt BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    text    TEXT   NOT NULL,
    PRIMARY KEY (task_id, attempt, seq)
);
