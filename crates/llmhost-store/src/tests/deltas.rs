//! Streamed output of running attempts.

use super::*;

/// Streamed text is stored only under the claim that produced it, read back
/// in order per attempt, and cleared per attempt.
pub(super) async fn streamed_text_is_fenced_by_the_attempt_and_read_in_order(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    assert_eq!(
        store
            .append_deltas(&task.id, 1, &[Delta::text(1, "early")])
            .await
            .unwrap(),
        Fenced::Lost,
        "nothing is stored for a task that is not running"
    );
    let first = claim_and_expire(&store).await;
    for (seq, text) in [(1, "one "), (2, "two ")] {
        let written = store
            .append_deltas(&task.id, first.attempt, &[Delta::text(seq, text)])
            .await;
        assert_eq!(written.unwrap(), Fenced::Applied);
    }
    store.rescue_expired(now_ms()).await.unwrap();
    let second = claim(&store, "w2", LEASE).await.unwrap().unwrap();
    assert_eq!(
        store
            .append_deltas(&task.id, first.attempt, &[Delta::text(3, "late")])
            .await
            .unwrap(),
        Fenced::Lost,
        "a worker that lost the task stores nothing"
    );
    let written = store
        .append_deltas(&task.id, second.attempt, &[Delta::text(1, "fresh")])
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

/// Reasoning, refusal and tool-call pieces are stored beside text, each
/// with its kind (and a call's index, id and name), in one fenced write of
/// many rows, and read back as written.
pub(super) async fn every_kind_of_piece_is_stored_and_read_back_as_written(store: Store) {
    let task = new_task("echo");
    insert(&store, &task).await;
    let claimed = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    let call = Delta {
        tool_index: Some(1),
        tool_id: Some("call_1".into()),
        tool_name: Some("lookup".into()),
        ..Delta::of(4, DeltaKind::ToolCall, "{\"q\":")
    };
    let fragment = Delta {
        tool_index: Some(1),
        ..Delta::of(5, DeltaKind::ToolCall, "1}")
    };
    // More rows than one statement takes, so the write spans several.
    let many: Vec<Delta> = (0..150)
        .map(|i| Delta::text(6 + i, format!("{i} ")))
        .collect();
    let mut pieces = vec![
        Delta::of(1, DeltaKind::Reasoning, "thinking"),
        Delta::text(2, "hello"),
        Delta::of(3, DeltaKind::Refusal, "no"),
        call,
        fragment,
    ];
    pieces.extend(many);
    let written = store
        .append_deltas(&task.id, claimed.attempt, &pieces)
        .await;
    assert_eq!(written.unwrap(), Fenced::Applied);
    let read = store.deltas(&task.id, claimed.attempt, 0).await.unwrap();
    assert_eq!(read, pieces);
    let after = store.deltas(&task.id, claimed.attempt, 3).await.unwrap();
    assert_eq!(after.first().map(|d| d.kind), Some(DeltaKind::ToolCall));
}
