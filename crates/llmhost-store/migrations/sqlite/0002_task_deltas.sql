-- Text a running attempt has streamed so far, for clients watching the
-- task's events. Written in batches by the worker, only while the attempt
-- runs; removed once the attempt's outcome is stored (the result holds the
-- whole text).
CREATE TABLE task_deltas (
    task_id TEXT    NOT NULL,
    attempt INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    text    TEXT    NOT NULL,
    PRIMARY KEY (task_id, attempt, seq)
);
