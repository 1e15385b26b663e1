//! Persists the text a running attempt streams, in batches, so that clients
//! watching the task's events see it while the attempt runs (possibly from
//! another process). A batch is written at most every `FLUSH`; a call that
//! ends before the first flush writes nothing, because its result carries
//! the whole text. Only text is stored: tool calls and reasoning arrive
//! with the result. Writes are fenced: a worker that lost its task stops, and
//! so does one whose write failed (what is stored stays a prefix).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use llmhost_runtime::StreamEvent;
use llmhost_store::{Fenced, Store};

/// How long streamed text may wait before it is stored.
const FLUSH: Duration = Duration::from_millis(100);

/// Stores what arrives on `deltas` until the channel closes. Sets `stored`
/// once anything was stored (it must be cleared when the outcome is).
/// Returns when the first piece of any kind arrived (the attempt's time to
/// first token), if one did.
pub(crate) async fn persist(
    store: &Store,
    task_id: &str,
    attempt: u32,
    mut deltas: mpsc::Receiver<StreamEvent>,
    stored: &AtomicBool,
) -> Option<Instant> {
    let mut pending = String::new();
    let mut seq = 0;
    let mut first = None;
    let mut flush_at = tokio::time::Instant::now() + FLUSH;
    loop {
        tokio::select! {
            delta = deltas.recv() => {
                if delta.is_some() && first.is_none() {
                    first = Some(Instant::now());
                }
                match delta {
                    Some(StreamEvent::Text(delta)) => pending.push_str(&delta),
                    Some(_) => {}
                    // The call is over: its outcome carries the rest.
                    None => return first,
                }
            },
            _ = tokio::time::sleep_until(flush_at), if !pending.is_empty() => {
                seq += 1;
                match store.append_delta(task_id, attempt, seq, &pending).await {
                    Ok(Fenced::Applied) => stored.store(true, Ordering::Relaxed),
                    stopped => {
                        // Lost: not ours any more. Failed: watchers read the
                        // stored pieces as the start of the text and take
                        // the rest from the result, so storing later pieces
                        // after a missing one would show them a gap. Either
                        // way, drain so the call is not held up.
                        if let Err(err) = stopped {
                            tracing::warn!("storing streamed text failed: {err}; the rest waits for the result");
                            // It may have been stored all the same.
                            stored.store(true, Ordering::Relaxed);
                        }
                        while deltas.recv().await.is_some() {}
                        return first;
                    }
                }
                pending.clear();
                flush_at = tokio::time::Instant::now() + FLUSH;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmhost_store::Inserted;

    async fn running_task(store: &Store) -> (String, u32) {
        let task = llmhost_store::testing::new_task("echo");
        assert!(matches!(
            store.insert(&task).await.unwrap(),
            Inserted::Created(_)
        ));
        let claimed = store.claim_batch("w1", Duration::from_secs(60), 1).await;
        let claimed = claimed.unwrap().pop().expect("the task is claimable");
        (claimed.id, claimed.attempt)
    }

    /// Watchers take the stored pieces as the start of the text and the
    /// rest from the result: a piece that failed to store must not be
    /// followed by later ones, or they would see a gap.
    #[tokio::test]
    async fn after_a_failed_write_nothing_later_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = Store::connect(&url).await.unwrap();
        let (id, attempt) = running_task(&store).await;
        // The first batch's key is taken, so storing it fails.
        let taken = store.append_delta(&id, attempt, 1, "taken").await.unwrap();
        assert_eq!(taken, Fenced::Applied);

        let (sink, streamed) = llmhost_runtime::delta_channel();
        let stored = AtomicBool::new(false);
        let persist = persist(&store, &id, attempt, streamed, &stored);
        let feed = async {
            // Long enough for the failed batch and several after it.
            for piece in 0..(10 * FLUSH.as_millis() / 20) {
                sink.send(StreamEvent::Text(format!("{piece} ")))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            drop(sink);
        };
        tokio::join!(persist, feed);
        let deltas = store.deltas(&id, attempt, 0).await.unwrap();
        let seqs: Vec<i64> = deltas.iter().map(|d| d.seq).collect();
        assert_eq!(seqs, [1], "{deltas:?}");
    }
}
