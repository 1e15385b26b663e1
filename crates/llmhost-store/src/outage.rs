//! Which store failures are outages: the database cannot be reached or
//! cannot commit right now, and the same request may succeed later (a full
//! disk, a dead or frozen connection, a statement past its deadline, a busy
//! database). Everything else a store error can be is a bug or corrupt
//! data, and stays an internal error. Only the classification lives here;
//! the API decides what an outage is answered with.

use std::time::Duration;

use crate::StoreError;

/// Why the store cannot serve right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outage {
    /// The database's file system (or PostgreSQL's) is full.
    DiskFull,
    /// No connection to the database could be made or used.
    Unreachable,
    /// A statement or a connection did not answer within its deadline.
    Timeout,
    /// The database is locked or out of some resource other than disk.
    Busy,
}

impl Outage {
    /// For people and logs: what is wrong, in a few words.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::DiskFull => "the database's disk is full",
            Self::Unreachable => "the database cannot be reached",
            Self::Timeout => "the database did not answer in time",
            Self::Busy => "the database is busy",
        }
    }
}

impl std::fmt::Display for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

impl StoreError {
    /// The outage this error is, if it is one.
    pub fn outage(&self) -> Option<Outage> {
        match self {
            Self::Database(err) => sqlx_outage(err),
            Self::Io(err) => io_outage(err),
            Self::Batch(err) => err.outage(),
            Self::Timeout { .. } => Some(Outage::Timeout),
            Self::Unavailable(outage) => Some(*outage),
            Self::Migrate(_)
            | Self::UnsupportedUrl(_)
            | Self::Corrupt { .. }
            | Self::WriterStopped => None,
        }
    }

    /// Whether the write may have committed although it failed: its
    /// statement reached for the database and no answer came back. (A
    /// refused or never-sent statement, or one the database answered with
    /// an error, did not commit.)
    pub fn may_have_committed(&self) -> bool {
        match self {
            Self::Timeout { .. } => true,
            Self::Batch(err) => err.may_have_committed(),
            _ => false,
        }
    }

    /// A statement or connection that outlived `after`.
    pub(crate) fn timeout(after: Duration) -> Self {
        Self::Timeout { after }
    }
}

fn sqlx_outage(err: &sqlx::Error) -> Option<Outage> {
    match err {
        sqlx::Error::PoolTimedOut => Some(Outage::Timeout),
        sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed | sqlx::Error::Tls(_) => {
            Some(Outage::Unreachable)
        }
        sqlx::Error::Io(err) => io_outage(err).or(Some(Outage::Unreachable)),
        sqlx::Error::Database(db) => db.code().and_then(|code| {
            if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                postgres_outage(&code)
            } else {
                sqlite_outage(&code)
            }
        }),
        _ => None,
    }
}

/// PostgreSQL's SQLSTATE classes (appendix A of its manual).
fn postgres_outage(sqlstate: &str) -> Option<Outage> {
    match sqlstate {
        "53100" => Some(Outage::DiskFull),
        // Connection exceptions; the server shutting down or starting up.
        s if s.starts_with("08") || matches!(s, "57P01" | "57P02" | "57P03") => {
            Some(Outage::Unreachable)
        }
        // `statement_timeout` (query_canceled).
        "57014" => Some(Outage::Timeout),
        // Out of memory or connections; lock_not_available; a deadlock or
        // serialization failure, which a retry resolves.
        s if s.starts_with("53") || matches!(s, "55P03" | "40001" | "40P01") => Some(Outage::Busy),
        _ => None,
    }
}

/// SQLite's result codes: the extended code's low byte is the primary one.
fn sqlite_outage(code: &str) -> Option<Outage> {
    const SQLITE_BUSY: i32 = 5;
    const SQLITE_LOCKED: i32 = 6;
    const SQLITE_NOMEM: i32 = 7;
    const SQLITE_IOERR: i32 = 10;
    const SQLITE_FULL: i32 = 13;
    const SQLITE_CANTOPEN: i32 = 14;
    match code.parse::<i32>().ok()? & 0xff {
        SQLITE_FULL => Some(Outage::DiskFull),
        SQLITE_BUSY | SQLITE_LOCKED | SQLITE_NOMEM => Some(Outage::Busy),
        SQLITE_IOERR | SQLITE_CANTOPEN => Some(Outage::Unreachable),
        _ => None,
    }
}

fn io_outage(err: &std::io::Error) -> Option<Outage> {
    use std::io::ErrorKind as K;
    match err.kind() {
        K::StorageFull | K::QuotaExceeded => Some(Outage::DiskFull),
        K::TimedOut => Some(Outage::Timeout),
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::BrokenPipe
        | K::UnexpectedEof
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::NetworkDown => Some(Outage::Unreachable),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_named_on_both_databases_and_in_io() {
        assert_eq!(postgres_outage("53100"), Some(Outage::DiskFull));
        // SQLITE_FULL, plain and as an extended code would carry it.
        assert_eq!(sqlite_outage("13"), Some(Outage::DiskFull));
        assert_eq!(
            sqlite_outage(&(13 | 1 << 8).to_string()),
            Some(Outage::DiskFull)
        );
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert_eq!(StoreError::Io(full).outage(), Some(Outage::DiskFull));
    }

    #[test]
    fn connection_trouble_and_deadlines_are_outages_and_bugs_are_not() {
        assert_eq!(postgres_outage("08006"), Some(Outage::Unreachable));
        assert_eq!(postgres_outage("57P01"), Some(Outage::Unreachable));
        assert_eq!(postgres_outage("57014"), Some(Outage::Timeout));
        assert_eq!(postgres_outage("40001"), Some(Outage::Busy));
        // A unique violation or a syntax error is ours to fix.
        assert_eq!(postgres_outage("23505"), None);
        assert_eq!(postgres_outage("42601"), None);
        assert_eq!(sqlite_outage("5"), Some(Outage::Busy));
        assert_eq!(sqlite_outage("1"), None);
        let pool = StoreError::Database(sqlx::Error::PoolTimedOut);
        assert_eq!(pool.outage(), Some(Outage::Timeout));
        let batch = StoreError::Batch(std::sync::Arc::new(pool));
        assert_eq!(batch.outage(), Some(Outage::Timeout));
        assert_eq!(StoreError::WriterStopped.outage(), None);
        let corrupt = StoreError::Corrupt {
            id: "t".into(),
            reason: "bad json".into(),
        };
        assert_eq!(corrupt.outage(), None);
    }
}
