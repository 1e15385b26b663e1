//! The two databases behind one store. Each transition's SQL is written once
//! (`$N` placeholders work in both) and run through `on_writer!`/`on_reader!`,
//! which compile the same statement for each backend's pool (on
//! PostgreSQL, under the deadline of `liveness`).

use sqlx::SqlitePool;

pub(crate) enum Backend {
    Sqlite(SqliteBackend),
    Postgres(PostgresBackend),
}

pub(crate) struct SqliteBackend {
    /// The only connection that writes: writers never contend. Held
    /// directly, not in a pool: a pool pings its connection before and
    /// after every use, three round trips to SQLite's thread where one
    /// statement needs one, and writes queue behind each other here.
    pub writer: crate::writer::Writer,
    /// Reads never wait for the writer (WAL).
    pub readers: SqlitePool,
    /// Held for the store's lifetime: one process per database file.
    pub _lock: std::fs::File,
}

pub(crate) struct PostgresBackend {
    /// The pool, renewed when a connection of it froze (see `liveness`).
    pub pool: std::sync::Arc<crate::liveness::LivePool>,
    /// Forwards LISTEN notifications to the in-process signals.
    pub listener: tokio::task::JoinHandle<()>,
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// `on_writer!(backend, |pool| expr)`: evaluates `expr` with `pool` bound to
/// the backend's writing executor (SQLite's one writer connection, locked
/// for the statement, or a PostgreSQL connection of its own under the
/// statement deadline, `on_postgres!`). `expr` is compiled once per
/// backend; `?` in it returns from the enclosing function, as does a
/// missed deadline.
macro_rules! on_writer {
    ($backend:expr, |$pool:ident| $body:expr) => {
        match $backend {
            $crate::backend::Backend::Sqlite(b) => {
                let mut writer = b.writer.lock().await;
                let $pool = &mut *writer;
                $body
            }
            $crate::backend::Backend::Postgres(b) => {
                $crate::liveness::on_postgres!(&b.pool, |$pool| $body)?
            }
        }
    };
}

/// Like `on_writer!`, with the backend's reading pool.
macro_rules! on_reader {
    ($backend:expr, |$pool:ident| $body:expr) => {
        match $backend {
            $crate::backend::Backend::Sqlite(b) => {
                let $pool = &b.readers;
                $body
            }
            $crate::backend::Backend::Postgres(b) => {
                $crate::liveness::on_postgres!(&b.pool, |$pool| $body)?
            }
        }
    };
}

pub(crate) use {on_reader, on_writer};
