-- Kept in step with migrations/sqlite/0010_leaner_finishing.sql.
-- The overview has read its figures from the rollups of 0007 since they
-- landed; nothing reads these two indexes of 0006 any more, and every task
-- that finished paid for an entry in each.
DROP INDEX tasks_by_completion;
DROP INDEX tasks_by_provider_completion;

-- What the UPDATE triggers of 0007 and 0008 wrote when an attempt ended
-- or a task finished (its ledger row, its key's tokens and released
-- reservation, the overview's rollups), each finishing statement now
-- writes itself, set-based, in the same statement (see
-- src/transitions/bookkeeping.rs): the ledger trigger ran a PL/pgSQL call
-- per row, and the statement-level rollup trigger had every UPDATE of
-- `tasks` (claims and lease renewals too) copy its rows into transition
-- tables. The INSERT and DELETE rollup triggers stay: nothing on the hot
-- path inserts finished tasks or deletes them.
DROP TRIGGER tasks_record_attempt ON tasks;
DROP FUNCTION tasks_record_attempt();
DROP TRIGGER tasks_release_reservation ON tasks;
DROP FUNCTION tasks_release_reservation();
DROP TRIGGER tasks_roll_up_finished ON tasks;
DROP FUNCTION tasks_roll_up_updated();
