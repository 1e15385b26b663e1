-- What a running attempt streams is more than text: reasoning, refusal
-- and pieces of tool calls too, each shown to a client watching the
-- task's events while the attempt runs. A row is one run of pieces of one
-- kind (for `tool_call`, of one call: its index, and the id and name when
-- this piece carries them; `text` holds the argument fragment). Rows from
-- before this migration are text. Kept in step with
-- migrations/postgres/0009_task_delta_kinds.sql.
ALTER TABLE task_deltas ADD COLUMN kind TEXT NOT NULL DEFAULT 'text'
    CHECK (kind IN ('text', 'reasoning', 'refusal', 'tool_call'));
ALTER TABLE task_deltas ADD COLUMN tool_index INTEGER;
ALTER TABLE task_deltas ADD COLUMN tool_id TEXT;
ALTER TABLE task_deltas ADD COLUMN tool_name TEXT;
