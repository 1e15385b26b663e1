-- One row that readiness probes overwrite: a probe that commits here proves
-- the database can commit now (a full disk or a lost connection fails it).
-- Nothing reads it.
CREATE TABLE store_probe (
    id        INTEGER PRIMARY KEY,
    probed_at INTEGER NOT NULL
);
