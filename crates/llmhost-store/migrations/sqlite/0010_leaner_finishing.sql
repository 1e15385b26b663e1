-- Kept in step with migrations/postgres/0010_leaner_finishing.sql.
-- The overview has read its figures from the rollups of 0007 since they
-- landed; nothing reads these two indexes of 0006 any more, and every task
-- that finished paid for an entry in each.
DROP INDEX tasks_by_completion;
DROP INDEX tasks_by_provider_completion;
-- (On PostgreSQL the finishing statements also took over the UPDATE
-- triggers' work; here the triggers of 0007 and 0008 keep it, row by row,
-- on the one writer connection.)
