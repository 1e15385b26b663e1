//! Persists the text a running attempt streams, in batches, so that clients
//! watching the task's events see it while the attempt runs (possibly from
//! another process). A batch is written at most every `FLUSH`; a call that
//! ends before the first flush writes nothing, because its result carries
//! the whole text. Writes are fenced: a worker that lost its task stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::store::{Fenced, Store};

/// How long streamed text may wait before it is stored.
const FLUSH: Duration = Duration::from_millis(100);

/// How many deltas may wait in the channel before the plugin is slowed.
pub const CHANNEL: usize = 64;

/// Stores what arrives on `deltas` until the channel closes. Sets `stored`
/// once anything was stored (it must be cleared when the outcome is).
pub async fn persist(
    store: &Store,
    task_id: &str,
    attempt: u32,
    mut deltas: mpsc::Receiver<String>,
    stored: &AtomicBool,
) {
    let mut pending = String::new();
    let mut seq = 0;
    let mut flush_at = tokio::time::Instant::now() + FLUSH;
    loop {
        tokio::select! {
            delta = deltas.recv() => match delta {
                Some(delta) => pending.push_str(&delta),
                // The call is over: its outcome carries the rest.
                None => return,
            },
            _ = tokio::time::sleep_until(flush_at), if !pending.is_empty() => {
                seq += 1;
                match store.append_delta(task_id, attempt, seq, &pending).await {
                    Ok(Fenced::Applied) => stored.store(true, Ordering::Relaxed),
                    Ok(Fenced::Lost) => {
                        // Not ours any more: drain so the call is not held up.
                        while deltas.recv().await.is_some() {}
                        return;
                    }
                    Err(err) => tracing::warn!("storing streamed text failed: {err}"),
                }
                pending.clear();
                flush_at = tokio::time::Instant::now() + FLUSH;
            }
        }
    }
}
