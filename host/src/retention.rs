//! Usage retention: every hour (and at start), ledger rows older than the
//! retention window are rolled up into one row per key, provider, model,
//! route, outcome and day (`Store::roll_up_usage`), so that the ledger
//! grows with days and groups, not with calls. Reports by day, key,
//! provider and model give the same numbers before and after; what goes
//! is the detail of each call (its task, attempt and time of day). Every
//! process may run it: on PostgreSQL roll-ups wait for each other.

use std::time::Duration;

use llmhost_store::Store;

const DAY_MS: i64 = 86_400_000;
/// How often the ledger is looked at: the window is counted in days.
const EVERY: Duration = Duration::from_secs(3_600);

/// Rolls up rows older than `days` days (whole days: the cut is a day's
/// start), now and every hour; `days == 0` keeps every row.
pub(crate) fn spawn(store: Store, days: u32) -> Option<tokio::task::JoinHandle<()>> {
    if days == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let now = llmhost_store::now_ms();
            let before = (now - now.rem_euclid(DAY_MS)) - i64::from(days) * DAY_MS;
            match store.roll_up_usage(before).await {
                Ok(0) => {}
                Ok(rows) => tracing::info!(rows, days, "usage ledger rolled up"),
                // Tried again within the hour; nothing was changed.
                Err(err) => tracing::warn!("usage roll-up failed: {err}"),
            }
        }
    }))
}
