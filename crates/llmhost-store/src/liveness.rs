//! How the PostgreSQL backend stays live when the network or the server
//! stops answering. Every statement runs on a connection of its own under a
//! deadline (`on_postgres!`). A connection that misses it is closed at once,
//! never handed back to the pool (which would ping it, and a ping on a
//! frozen connection never returns), and the pool is renewed, so the next
//! statement starts on a fresh connection rather than on the frozen ones
//! left idle. Once an outage is known, statements are refused at once
//! (`breaker`). The server is told the same: a statement timeout, and TCP
//! keepalives that end a vanished client's session and free its locks.
//! (sqlx opens the client's sockets itself and sets no keepalive on them;
//! the deadline stands in for it.)

use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::breaker::Breaker;
use crate::{Result, StoreError};

/// The server cancels a statement running longer (a lock wait included)
/// and answers an error, which the client hears if the network works.
const SERVER_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// The client gives up on a statement after this; a little after the
/// server's own timeout, so that a live server answers first.
pub(crate) const STATEMENT_DEADLINE: Duration = Duration::from_secs(6);
/// The longest a statement waits for a connection: a free one, a pinged
/// idle one, or a new one connected.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_CONNECTIONS: u32 = 32;

/// The session settings every connection starts with (the server's side
/// of liveness). Not for migrations, which may wait on another process's
/// migration lock longer than a statement may run.
pub(crate) fn session(options: PgConnectOptions) -> PgConnectOptions {
    let timeout = SERVER_STATEMENT_TIMEOUT.as_millis().to_string();
    options.options([
        ("statement_timeout", timeout.as_str()),
        ("idle_in_transaction_session_timeout", "10000"),
        // The server drops a client that vanished within about 25 s.
        ("tcp_keepalives_idle", "10"),
        ("tcp_keepalives_interval", "5"),
        ("tcp_keepalives_count", "3"),
    ])
}

/// A pool that is replaced when its connections froze.
pub(crate) struct LivePool {
    options: PgConnectOptions,
    current: RwLock<PgPool>,
    /// When the pool was last renewed: at most once per deadline, so that
    /// a storm of timeouts opens one new pool, not one each.
    renewed: Mutex<Instant>,
    breaker: Breaker,
}

impl LivePool {
    /// Connects one connection now, so that a wrong URL fails at start.
    pub(crate) async fn connect(options: PgConnectOptions) -> Result<Self> {
        let options = session(options);
        let pool = pool_options().connect_with(options.clone()).await?;
        Ok(Self {
            options,
            current: RwLock::new(pool),
            // As if renewed a deadline ago: a fault in the first seconds
            // after start renews the pool like any later one.
            renewed: Mutex::new(
                Instant::now()
                    .checked_sub(STATEMENT_DEADLINE)
                    .unwrap_or_else(Instant::now),
            ),
            breaker: Breaker::default(),
        })
    }

    /// The pool now (for what holds a connection of its own, as the
    /// notification listener does).
    pub(crate) fn pool(&self) -> PgPool {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A connection for one statement, unless the breaker refuses.
    pub(crate) async fn acquire(&self) -> Result<PoolConnection<Postgres>> {
        self.breaker.admit()?;
        let acquired = self.pool().acquire().await.map_err(StoreError::from);
        if let Err(err) = &acquired {
            self.breaker.observe(err.outage());
            if matches!(err, StoreError::Database(sqlx::Error::PoolTimedOut)) {
                // Idle connections that never answer their ping, or
                // connects that hang: start over with a fresh pool.
                self.renew("no connection within the acquire timeout");
            }
        }
        acquired
    }

    /// How a statement on `held` ended: within the deadline (its result),
    /// or not, and then the connection is closed and the pool renewed.
    pub(crate) fn settle<T>(
        &self,
        held: PoolConnection<Postgres>,
        done: std::result::Result<Result<T>, tokio::time::error::Elapsed>,
    ) -> Result<T> {
        let result = match done {
            Ok(result) => result,
            Err(_) => {
                // Dropped here, not pinged back into the pool.
                drop(held.detach());
                self.renew("a statement missed its deadline");
                Err(StoreError::timeout(STATEMENT_DEADLINE))
            }
        };
        self.breaker.record(&result);
        result
    }

    /// Replaces the pool; the old one closes its idle connections now and
    /// the rest as their statements end (each bounded by the deadline).
    fn renew(&self, why: &str) {
        {
            let mut renewed = self.renewed.lock().unwrap_or_else(|e| e.into_inner());
            if renewed.elapsed() < STATEMENT_DEADLINE {
                return;
            }
            *renewed = Instant::now();
        }
        let fresh = pool_options().connect_lazy_with(self.options.clone());
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            fresh,
        );
        tracing::warn!("{why}: opening fresh database connections");
        tokio::spawn(async move { old.close().await });
    }
}

fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // Idle connections are pinged before use (the default), so a dead
        // one is found then; and closed after a while, so that one frozen
        // while idle does not wait long for that ping.
        .idle_timeout(Duration::from_secs(60))
}

/// `on_postgres!(live_pool, |conn| expr)`: evaluates `expr` with `conn` a
/// `&mut PgConnection` of its own, under `STATEMENT_DEADLINE`, to a
/// `Result` (`?` in `expr` ends only `expr`). A missed deadline is a
/// `StoreError::Timeout`, and the connection is closed.
macro_rules! on_postgres {
    ($live:expr, |$conn:ident| $body:expr) => {{
        let live: &$crate::liveness::LivePool = $live;
        match live.acquire().await {
            Err(err) => Err(err),
            Ok(mut held) => {
                let done = ::tokio::time::timeout($crate::liveness::STATEMENT_DEADLINE, async {
                    let $conn = &mut *held;
                    $crate::Result::Ok($body)
                })
                .await;
                live.settle(held, done)
            }
        }
    }};
}

pub(crate) use on_postgres;
