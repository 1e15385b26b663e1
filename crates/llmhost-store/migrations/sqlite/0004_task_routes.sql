-- Tasks over a route, and every attempt's targets. Kept in step with the
-- other backend's 0004_task_routes.sql.
--
-- `route`: the alias a task was submitted to (`{"model": "smart"}`), NULL
-- for a task that names its provider. Its `provider` and `model` then hold
-- the alias too, so that listing by provider finds it.
ALTER TABLE tasks ADD COLUMN route TEXT;
-- `attempt_log`: a JSON array, one entry per target tried (claim number,
-- target `<instance>/<model>`, outcome, error code, duration, start). Only
-- the worker holding the claim writes it, in the same statement that
-- records the claim's outcome, so a task's history and its status never
-- disagree, whatever process dies when.
ALTER TABLE tasks ADD COLUMN attempt_log TEXT;
