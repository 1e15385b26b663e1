//! SQLite's one writing connection, and the signal raised each time a
//! writer lets go of it: readers in this process that follow tasks (event
//! streams) wait on it instead of polling. Every SQLite write takes this
//! lock, so no write goes unsignalled.

use std::ops::{Deref, DerefMut};

use sqlx::SqliteConnection;
use tokio::sync::{Mutex, MutexGuard, Notify};

pub(crate) struct Writer {
    conn: Mutex<SqliteConnection>,
    written: Notify,
}

impl Writer {
    pub(crate) fn new(conn: SqliteConnection) -> Self {
        Self {
            conn: Mutex::new(conn),
            written: Notify::new(),
        }
    }

    /// The connection, for one turn; letting go of it signals `written`.
    pub(crate) async fn lock(&self) -> WriterGuard<'_> {
        WriterGuard {
            conn: self.conn.lock().await,
            written: &self.written,
        }
    }

    /// Resolves after a writer let go of the connection (whatever it wrote).
    pub(crate) fn written(&self) -> &Notify {
        &self.written
    }
}

pub(crate) struct WriterGuard<'a> {
    conn: MutexGuard<'a, SqliteConnection>,
    written: &'a Notify,
}

impl Deref for WriterGuard<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl DerefMut for WriterGuard<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        // Statements run in autocommit or in a transaction that ended
        // within the turn: what they wrote is visible to readers now.
        self.written.notify_waiters();
    }
}
