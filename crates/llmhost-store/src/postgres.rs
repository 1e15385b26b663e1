//! Opening the PostgreSQL backend, for many processes on many hosts. Claims
//! use `FOR UPDATE SKIP LOCKED` (see `transitions`); triggers NOTIFY on new
//! work and on cancel requests, and a listener turns those notifications into
//! the in-process signals. Workers also poll, so a lost notification only
//! delays, never strands, a task. How connections stay live: `liveness`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener};

use super::Result;
use super::Signals;
use super::backend::PostgresBackend;
use crate::liveness::LivePool;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Channels the migration's triggers notify.
const WORK_CHANNEL: &str = "llmhost_work";
const CANCEL_CHANNEL: &str = "llmhost_cancel";

/// A listener that heard nothing for this long checks that its connection
/// still answers, and connects again if not: a frozen connection never
/// says it is dead.
const LISTENER_CHECK_AFTER: Duration = Duration::from_secs(10);
const LISTENER_CHECK_DEADLINE: Duration = Duration::from_secs(2);

pub(crate) async fn connect(url: &str, signals: Arc<Signals>) -> Result<PostgresBackend> {
    let options = PgConnectOptions::from_str(url)?;
    // sqlx serialises concurrent migrations with an advisory lock, so many
    // processes may start at once; on a connection without the statement
    // timeout, since waiting for that lock may take longer.
    let mut migrating = PgConnection::connect_with(&options).await?;
    MIGRATOR.run(&mut migrating).await?;
    migrating.close().await?;
    let pool = Arc::new(LivePool::connect(options).await?);
    let listener = listen(&pool).await?;
    let listener = tokio::spawn(forward_notifications(listener, pool.clone(), signals));
    Ok(PostgresBackend { pool, listener })
}

/// A listener on a connection of its own from the pool now.
async fn listen(pool: &LivePool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(&pool.pool()).await?;
    listener.listen_all([WORK_CHANNEL, CANCEL_CHANNEL]).await?;
    Ok(listener)
}

async fn forward_notifications(
    mut listener: PgListener,
    pool: Arc<LivePool>,
    signals: Arc<Signals>,
) {
    loop {
        let alive = match tokio::time::timeout(LISTENER_CHECK_AFTER, listener.recv()).await {
            Ok(Ok(note)) if note.channel() == CANCEL_CHANNEL => {
                signals.cancel.notify_waiters();
                true
            }
            Ok(Ok(_)) => {
                signals.work.notify_waiters();
                true
            }
            Ok(Err(err)) => {
                tracing::warn!("PostgreSQL notifications interrupted: {err}");
                false
            }
            Err(_quiet) => {
                let check = sqlx::query("SELECT 1").execute(&mut listener);
                let answered = tokio::time::timeout(LISTENER_CHECK_DEADLINE, check).await;
                if !matches!(answered, Ok(Ok(_))) {
                    tracing::warn!("PostgreSQL notifications stopped answering");
                }
                matches!(answered, Ok(Ok(_)))
            }
        };
        if !alive {
            listener = relisten(&pool).await;
            // What was notified meanwhile is lost: look for it.
            signals.work.notify_waiters();
            signals.cancel.notify_waiters();
        }
    }
}

/// A new listener, tried (polling covers the gap) until one answers.
async fn relisten(pool: &LivePool) -> PgListener {
    loop {
        match tokio::time::timeout(LISTENER_CHECK_DEADLINE, listen(pool)).await {
            Ok(Ok(listener)) => {
                tracing::info!("listening for PostgreSQL notifications again");
                return listener;
            }
            Ok(Err(err)) => tracing::warn!("listening for notifications again failed: {err}"),
            Err(_) => tracing::warn!("listening for notifications again timed out"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
