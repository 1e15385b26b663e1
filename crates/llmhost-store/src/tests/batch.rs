//! Batched writes: completions and keyless inserts that arrive together share
//! a statement, and each caller still hears its own row's outcome.

use super::*;

/// Completions issued together are written together (one statement on the
/// writer): each is applied, and each task reads back its own result.
pub(super) async fn concurrent_completions_are_each_applied_with_their_own_result(store: Store) {
    let claimed = running_tasks(&store, 100).await;
    let results: Vec<TaskResult> = (0..claimed.len())
        .map(|i| answer(&format!("result {i}")))
        .collect();
    let written = futures::future::join_all(
        claimed
            .iter()
            .zip(&results)
            .map(|(task, result)| store.complete(&task.id, task.attempt, result)),
    )
    .await;
    for (task, (written, result)) in claimed.iter().zip(written.into_iter().zip(&results)) {
        assert_eq!(written.unwrap(), Fenced::Applied, "{}", task.id);
        let read = store.get(&task.id).await.unwrap().unwrap();
        assert_eq!(read.status, TaskStatus::Completed);
        assert_eq!(read.result.as_ref(), Some(result));
        assert!(read.error_code.is_none());
    }
}

/// In one batch, rows whose writer lost the task (a stale attempt, a
/// cancelled task, a finished one) are refused and the rest applied.
pub(super) async fn a_batch_applies_only_the_completions_whose_attempt_still_runs(store: Store) {
    // A task taken over by a second attempt.
    let taken_over = new_task("echo");
    insert(&store, &taken_over).await;
    let stale = claim_and_expire(&store).await;
    store.rescue_expired(now_ms()).await.unwrap();
    let current = claim(&store, "w2", LEASE).await.unwrap().unwrap();
    assert_eq!(current.id, taken_over.id);
    let good = running_tasks(&store, 3).await;
    // A running task cancelled by its worker, and one already failed.
    let (cancelled, failed) = (&good[1], &good[2]);
    assert!(matches!(
        store.cancel(&cancelled.id).await.unwrap(),
        Cancel::Requested(_)
    ));
    let recorded = store
        .record_cancelled(&cancelled.id, cancelled.attempt)
        .await
        .unwrap();
    assert_eq!(recorded, Fenced::Applied);
    let fail = store
        .fail(&failed.id, failed.attempt, &error(ErrorCode::UpstreamError))
        .await
        .unwrap();
    assert_eq!(fail, Fenced::Applied);
    let good = &good[0];

    let [late, ok, x, y, latest] = ["late", "good", "x", "y", "current"].map(answer);
    let (late, ok, on_cancelled, on_failed, current_ok) = tokio::join!(
        store.complete(&taken_over.id, stale.attempt, &late),
        store.complete(&good.id, good.attempt, &ok),
        store.complete(&cancelled.id, cancelled.attempt, &x),
        store.complete(&failed.id, failed.attempt, &y),
        store.complete(&taken_over.id, current.attempt, &latest),
    );
    assert_eq!(late.unwrap(), Fenced::Lost);
    assert_eq!(ok.unwrap(), Fenced::Applied);
    assert_eq!(on_cancelled.unwrap(), Fenced::Lost);
    assert_eq!(on_failed.unwrap(), Fenced::Lost);
    assert_eq!(current_ok.unwrap(), Fenced::Applied);
    let read = |id: String| {
        let store = store.clone();
        async move { store.get(&id).await.unwrap().unwrap() }
    };
    let taken_over = read(taken_over.id).await;
    assert_eq!(taken_over.status, TaskStatus::Completed);
    assert_eq!(taken_over.result.unwrap().text, "current");
    assert_eq!(read(good.id.clone()).await.result.unwrap().text, "good");
    let cancelled = read(cancelled.id.clone()).await;
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    assert!(cancelled.result.is_none());
    let failed = read(failed.id.clone()).await;
    assert_eq!(failed.status, TaskStatus::Failed);
    assert!(failed.result.is_none());
}

/// Two writers completing one attempt, among other completions queued at
/// the same time, still have exactly one winner, whose result is stored.
pub(super) async fn two_completions_racing_for_one_task_in_concurrent_batches_have_one_winner(
    store: Store,
) {
    for round in 0..10 {
        let claimed = running_tasks(&store, 8).await;
        let target = &claimed[3];
        let (first, second) = (answer("first writer"), answer("second writer"));
        let others = answer("other");
        let mut writes: Vec<_> = claimed
            .iter()
            .map(|task| store.complete(&task.id, task.attempt, &others))
            .collect();
        // The target's own completion above plus two more racing writers,
        // queued with the rest.
        writes.push(store.complete(&target.id, target.attempt, &first));
        writes.push(store.complete(&target.id, target.attempt, &second));
        let written: Vec<Fenced> = futures::future::join_all(writes)
            .await
            .into_iter()
            .map(|w| w.unwrap())
            .collect();
        let (for_target, rest): (Vec<_>, Vec<_>) = written
            .iter()
            .enumerate()
            .partition(|(i, _)| *i == 3 || *i >= claimed.len());
        let winners: Vec<usize> = for_target
            .iter()
            .filter(|(_, w)| **w == Fenced::Applied)
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {for_target:?}");
        assert!(
            rest.iter().all(|(_, w)| **w == Fenced::Applied),
            "round {round}"
        );
        let expected = match winners[0] {
            3 => "other",
            i if i == claimed.len() => "first writer",
            _ => "second writer",
        };
        let read = store.get(&target.id).await.unwrap().unwrap();
        assert_eq!(read.result.unwrap().text, expected, "round {round}");
    }
}

/// Submissions without a key arriving together are stored together: each
/// caller gets its own committed task back.
pub(super) async fn concurrent_submissions_each_store_their_own_task(store: Store) {
    let tasks: Vec<NewTask> = (0..100)
        .map(|i| NewTask {
            metadata: Some(serde_json::json!({ "n": i })),
            ..new_task("echo")
        })
        .collect();
    let stored = futures::future::join_all(tasks.iter().map(|t| store.insert(t))).await;
    for (task, stored) in tasks.iter().zip(stored) {
        let Inserted::Created(stored) = stored.unwrap() else {
            panic!("{} was not created", task.id);
        };
        assert_eq!(stored.task_id, task.id);
        assert_eq!(stored.metadata, task.metadata);
        assert_eq!(store.get(&task.id).await.unwrap(), Some(stored));
    }
    let claimed = store.claim_batch("w1", LEASE, 200).await.unwrap();
    assert_eq!(claimed.len(), tasks.len());
}

/// A submission the database refuses fails alone, even when it was
/// written together with others.
pub(super) async fn a_refused_row_fails_alone_among_concurrent_submissions(store: Store) {
    let existing = new_task("echo");
    insert(&store, &existing).await;
    let duplicate = NewTask {
        id: existing.id.clone(),
        ..new_task("echo")
    };
    let no_attempts = NewTask {
        max_attempts: 0,
        ..new_task("echo")
    };
    let good: Vec<NewTask> = (0..5).map(|_| new_task("echo")).collect();
    let (dup, none, goods) = tokio::join!(
        store.insert(&duplicate),
        store.insert(&no_attempts),
        futures::future::join_all(good.iter().map(|t| store.insert(t))),
    );
    assert!(dup.is_err(), "{dup:?}");
    assert!(none.is_err(), "{none:?}");
    for (task, stored) in good.iter().zip(goods) {
        assert!(matches!(stored.unwrap(), Inserted::Created(t) if t.task_id == task.id));
    }
    assert!(store.get(&no_attempts.id).await.unwrap().is_none());
    let kept = store.get(&existing.id).await.unwrap().unwrap();
    assert_eq!(kept.provider, existing.provider);
    assert_eq!(kept.input, existing.input);
}
