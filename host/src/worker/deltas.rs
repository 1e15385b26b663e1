//! Persists what a running attempt streams — text, reasoning, refusal and
//! pieces of tool calls — in batches, so that clients watching the task's
//! events see it while the attempt runs (possibly from another process). A
//! batch is written at most every `FLUSH`, pieces of one kind in a row (of
//! one tool call) joined into one stored row; a call that ends before the
//! first flush writes nothing, because its result carries the whole
//! answer. Writes are fenced: a worker that lost its task stops, and so
//! does one whose write failed (what is stored stays a prefix).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use llmhost_runtime::StreamEvent;
use llmhost_store::{Delta, DeltaKind, Fenced, Store};

/// How long streamed output may wait before it is stored.
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
    let mut pending = Batch::default();
    let mut first = None;
    let mut flush_at = tokio::time::Instant::now() + FLUSH;
    loop {
        tokio::select! {
            delta = deltas.recv() => {
                if delta.is_some() && first.is_none() {
                    first = Some(Instant::now());
                }
                match delta {
                    Some(event) => pending.push(event),
                    // The call is over: its outcome carries the rest.
                    None => return first,
                }
            },
            _ = tokio::time::sleep_until(flush_at), if !pending.rows.is_empty() => {
                match store.append_deltas(task_id, attempt, &pending.rows).await {
                    Ok(Fenced::Applied) => stored.store(true, Ordering::Relaxed),
                    stopped => {
                        // Lost: not ours any more. Failed: watchers read the
                        // stored pieces as the start of the answer and take
                        // the rest from the result, so storing later pieces
                        // after a missing one would show them a gap. Either
                        // way, drain so the call is not held up.
                        if let Err(err) = stopped {
                            tracing::warn!("storing streamed output failed: {err}; the rest waits for the result");
                            // It may have been stored all the same.
                            stored.store(true, Ordering::Relaxed);
                        }
                        while deltas.recv().await.is_some() {}
                        return first;
                    }
                }
                pending.rows.clear();
                flush_at = tokio::time::Instant::now() + FLUSH;
            }
        }
    }
}

/// The pieces waiting for the next flush, as the rows they will be.
#[derive(Default)]
struct Batch {
    rows: Vec<Delta>,
    /// The `seq` of the last row made (stored or waiting).
    seq: i64,
}

impl Batch {
    fn push(&mut self, event: StreamEvent) {
        let (kind, text) = match event {
            StreamEvent::Text(text) => (DeltaKind::Text, text),
            StreamEvent::Reasoning(text) => (DeltaKind::Reasoning, text),
            StreamEvent::Refusal(text) => (DeltaKind::Refusal, text),
            StreamEvent::ToolCall(call) => {
                let index = i64::from(call.index);
                // A fragment of the call the last row holds joins it; a
                // piece naming an id or name starts a row of its own.
                if let Some(last) = self.rows.last_mut()
                    && last.kind == DeltaKind::ToolCall
                    && last.tool_index == Some(index)
                    && call.id.is_none()
                    && call.name.is_none()
                {
                    last.text.push_str(&call.arguments);
                    return;
                }
                self.seq += 1;
                self.rows.push(Delta {
                    tool_index: Some(index),
                    tool_id: call.id,
                    tool_name: call.name,
                    ..Delta::of(self.seq, DeltaKind::ToolCall, call.arguments)
                });
                return;
            }
            StreamEvent::End(_) => return,
        };
        if text.is_empty() {
            return;
        }
        match self.rows.last_mut() {
            Some(last) if last.kind == kind => last.text.push_str(&text),
            _ => {
                self.seq += 1;
                self.rows.push(Delta::of(self.seq, kind, text));
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
        let first = [Delta::text(1, "taken")];
        let taken = store.append_deltas(&id, attempt, &first).await.unwrap();
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

    /// A stored row is one run of one kind (of one tool call): fragments
    /// join, a new kind or a new call starts a row.
    #[test]
    fn pieces_of_one_kind_in_a_row_join_into_one_row() {
        use llmhost_runtime::ToolCallDelta;
        let call = |index, id: Option<&str>, arguments: &str| {
            StreamEvent::ToolCall(ToolCallDelta {
                index,
                id: id.map(str::to_owned),
                name: id.map(|_| "lookup".to_owned()),
                arguments: arguments.into(),
            })
        };
        let mut batch = Batch::default();
        for event in [
            StreamEvent::Reasoning("a".into()),
            StreamEvent::Reasoning("b".into()),
            StreamEvent::Text("c".into()),
            StreamEvent::Text(String::new()),
            StreamEvent::Text("d".into()),
            call(0, Some("call_0"), ""),
            call(0, None, "{\"x\""),
            call(0, None, ":1}"),
            call(1, Some("call_1"), "{}"),
            StreamEvent::Refusal("e".into()),
        ] {
            batch.push(event);
        }
        let rows: Vec<_> = batch
            .rows
            .iter()
            .map(|d| {
                (
                    d.seq,
                    d.kind,
                    d.text.as_str(),
                    d.tool_index,
                    d.tool_id.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (1, DeltaKind::Reasoning, "ab", None, None),
                (2, DeltaKind::Text, "cd", None, None),
                (3, DeltaKind::ToolCall, "{\"x\":1}", Some(0), Some("call_0")),
                (4, DeltaKind::ToolCall, "{}", Some(1), Some("call_1")),
                (5, DeltaKind::Refusal, "e", None, None),
            ]
        );
    }
}
