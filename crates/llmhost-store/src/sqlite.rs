//! Opening the SQLite backend, the embedded single-node default: WAL journal,
//! every write through one connection (writers never contend, so no
//! `database is locked`), reads through a separate pool that the writer never
//! blocks, and a lock file that keeps a second process off the database.

use std::fs::File;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::backend::SqliteBackend;
use super::{Result, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub(crate) async fn connect(url: &str) -> Result<SqliteBackend> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // WAL with NORMAL survives a process crash; only an OS crash can lose
        // the last commits.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10));
    let path = options.get_filename().to_path_buf();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let lock = lock_database(&path)?;
    let mut writer = options.connect().await?;
    MIGRATOR.run(&mut writer).await?;
    // An in-process connection cannot go stale the way a network one can:
    // no ping before each use, a second round trip to SQLite's thread for
    // every read.
    let readers = SqlitePoolOptions::new()
        .max_connections(4)
        .test_before_acquire(false)
        .connect_with(options.read_only(true))
        .await?;
    Ok(SqliteBackend {
        writer: crate::writer::Writer::new(writer),
        readers,
        _lock: lock,
    })
}

/// Takes an exclusive lock beside the database file: the single-writer
/// design (and restart recovery) assumes one process per database.
fn lock_database(db: &Path) -> Result<File> {
    let mut lock_path = db.as_os_str().to_owned();
    lock_path.push(".lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StoreError::Io(std::io::Error::other(format!(
                "{} is in use by another llmhost process (lock file {}); \
             several processes need PostgreSQL",
                db.display(),
                Path::new(&lock_path).display()
            ))))
        }
        Err(std::fs::TryLockError::Error(err)) => Err(err.into()),
    }
}
