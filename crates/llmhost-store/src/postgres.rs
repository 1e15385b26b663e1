//! Opening the PostgreSQL backend, for many processes on many hosts. Claims
//! use `FOR UPDATE SKIP LOCKED` (see `transitions`); triggers NOTIFY on new
//! work and on cancel requests, and a listener turns those notifications into
//! the in-process signals. Workers also poll, so a lost notification only
//! delays, never strands, a task.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};

use super::Result;
use super::Signals;
use super::backend::PostgresBackend;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Channels the migration's triggers notify.
const WORK_CHANNEL: &str = "llmhost_work";
const CANCEL_CHANNEL: &str = "llmhost_cancel";

pub(crate) async fn connect(url: &str, signals: Arc<Signals>) -> Result<PostgresBackend> {
    let pool = PgPoolOptions::new()
        .max_connections(32)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?;
    // sqlx serialises concurrent migrations with an advisory lock, so many
    // processes may start at once.
    MIGRATOR.run(&pool).await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen_all([WORK_CHANNEL, CANCEL_CHANNEL]).await?;
    let listener = tokio::spawn(forward_notifications(listener, signals));
    Ok(PostgresBackend { pool, listener })
}

async fn forward_notifications(mut listener: PgListener, signals: Arc<Signals>) {
    loop {
        match listener.recv().await {
            Ok(note) if note.channel() == CANCEL_CHANNEL => signals.cancel.notify_waiters(),
            Ok(_) => signals.work.notify_waiters(),
            Err(err) => {
                // PgListener reconnects on the next recv; polling covers the gap.
                tracing::warn!("PostgreSQL notifications interrupted: {err}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
