//! Streamed text of running attempts.

use super::*;

/// Streamed text is stored only under the claim that produced it, read back
/// in order per attempt, and cleared per attempt.
pub(super) async fn streamed_text_is_fenced_by_the_attempt_and_read_in_order(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    assert_eq!(
        store.append_delta(&task.id, 1, 1, "early").await.unwrap(),
        Fenced::Lost,
        "nothing is stored for a task that is not running"
    );
    let first = claim_and_expire(&store).await;
    for (seq, text) in [(1, "one "), (2, "two ")] {
        let written = store.append_delta(&task.id, first.attempt, seq, text).await;
        assert_eq!(written.unwrap(), Fenced::Applied);
    }
    store.rescue_expired(now_ms()).await.unwrap();
    let second = claim(&store, "w2", LEASE).await.unwrap().unwrap();
    assert_eq!(
        store
            .append_delta(&task.id, first.attempt, 3, "late")
            .await
            .unwrap(),
        Fenced::Lost,
        "a worker that lost the task stores nothing"
    );
    let written = store
        .append_delta(&task.id, second.attempt, 1, "fresh")
        .await;
    assert_eq!(written.unwrap(), Fenced::Applied);

    let texts = |deltas: Vec<Delta>| deltas.into_iter().map(|d| d.text).collect::<Vec<_>>();
    let of_first = store.deltas(&task.id, first.attempt, 0).await.unwrap();
    assert_eq!(texts(of_first), ["one ", "two "]);
    let after_one = store.deltas(&task.id, first.attempt, 1).await.unwrap();
    assert_eq!(texts(after_one), ["two "]);
    let of_second = store.deltas(&task.id, second.attempt, 0).await.unwrap();
    assert_eq!(texts(of_second), ["fresh"]);
    // The last attempt's outcome clears its text and what a killed earlier
    // attempt left behind.
    store.clear_deltas(&task.id, second.attempt).await.unwrap();
    for attempt in [first.attempt, second.attempt] {
        let left = store.deltas(&task.id, attempt, 0).await.unwrap();
        assert!(left.is_empty(), "{left:?}");
    }
}
