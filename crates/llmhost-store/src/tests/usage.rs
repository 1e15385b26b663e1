//! The usage ledger: every attempt recorded once, in the statement that
//! ends it, a completed one with its tokens and cost, a failed, cancelled
//! or interrupted one with none; `/v1` calls with their key's tokens;
//! budgets and tpm counted from it, tpm with the reservations of requests
//! in flight; the retention roll-up keeping every sum.

use super::*;
use crate::admission::{Admission, Limit};
use crate::keys::KeyLimits;
use crate::task::Usage;
use crate::testing::new_key;
use crate::usage::{CallUsage, GroupBy, UsageQuery};

fn priced(input: u32, output: u32, cost_nanousd: u64) -> TaskResult {
    TaskResult {
        usage: Some(Usage {
            input_tokens: input,
            output_tokens: output,
            cached_input_tokens: Some(3),
            cache_write_input_tokens: None,
            reasoning_tokens: None,
            cost_nanousd: std::num::NonZeroU64::new(cost_nanousd),
        }),
        ..answer("priced")
    }
}

fn everything(group_by: Vec<GroupBy>) -> UsageQuery {
    UsageQuery {
        group_by,
        from_ms: 0,
        to_ms: i64::MAX,
        key_id: None,
    }
}

pub(super) async fn a_completed_attempt_is_recorded_once_and_a_lost_one_never(store: Store) {
    let key = store
        .create_key(&new_key(KeyLimits::default()))
        .await
        .unwrap();
    let task = new_task("echo");
    let Admission::Admitted(..) = store.admit_task(&key.id, &task, 0).await.unwrap() else {
        panic!("admitted")
    };
    // The first attempt's process dies: its lease expires, it is rescued.
    let lost = claim_and_expire(&store).await;
    assert_eq!(store.rescue_expired(now_ms()).await.unwrap().requeued, 1);
    let second = claim(&store, "w2", LEASE).await.unwrap().unwrap();
    assert_eq!(second.attempt, lost.attempt + 1);
    // The dead attempt's late completion is fenced off, and unrecorded.
    let late = store
        .complete(&task.id, lost.attempt, &priced(1, 1, 1_000_000_000))
        .await
        .unwrap();
    assert_eq!(late, Fenced::Lost);
    let done = store
        .complete(&task.id, second.attempt, &priced(100, 20, 123_456))
        .await
        .unwrap();
    assert_eq!(done, Fenced::Applied);

    let rows = store
        .usage(&everything(vec![
            GroupBy::Key,
            GroupBy::Provider,
            GroupBy::Model,
        ]))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row.key_id.as_deref(), Some(key.id.as_str()));
    assert_eq!(
        (row.provider.as_deref(), row.model.as_deref()),
        (Some("echo"), Some("echo"))
    );
    assert_eq!(
        (
            row.requests,
            row.input_tokens,
            row.output_tokens,
            row.cached_tokens
        ),
        (2, 100, 20, 3),
        "the interrupted attempt is a row without tokens"
    );
    assert_eq!(row.cost_nanousd, 123_456);
    // Counted in the key's minute for tpm.
    let tpm = store
        .create_key(&new_key(KeyLimits {
            tpm: Some(120),
            ..KeyLimits::default()
        }))
        .await
        .unwrap();
    let mut call = CallUsage {
        key_id: Some(tpm.id.clone()),
        provider: "echo".into(),
        model: "echo".into(),
        input_tokens: 100,
        output_tokens: 20,
        cost_nanousd: 5,
        outcome: "ok".into(),
        ..CallUsage::default()
    };
    store.record_call(&call).await.unwrap();
    let refused = store
        .admit_task(&tpm.id, &new_task("echo"), 0)
        .await
        .unwrap();
    assert!(
        matches!(refused, Admission::Refused(Limit::Tokens { limit: 120 }, _)),
        "{refused:?}"
    );
    call.key_id = None;
    store.record_call(&call).await.unwrap();

    let total = store.usage(&everything(Vec::new())).await.unwrap();
    let by_key = store
        .usage(&everything(vec![GroupBy::Key, GroupBy::Day]))
        .await
        .unwrap();
    assert_eq!(total.len(), 1);
    assert_eq!(total[0].requests, 4);
    assert_eq!(total[0].cost_nanousd, 123_456 + 5 + 5);
    assert_eq!(
        by_key.iter().map(|g| g.cost_nanousd).sum::<i64>(),
        total[0].cost_nanousd
    );
    assert_eq!(by_key.iter().map(|g| g.input_tokens).sum::<i64>(), 300);
    assert!(by_key.iter().all(|g| g.day == Some(now_ms() / 86_400_000)));
    let mine = store
        .usage(&UsageQuery {
            key_id: Some(key.id.clone()),
            ..everything(vec![GroupBy::Key])
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].input_tokens, 100);
}

pub(super) async fn a_spent_budget_closes_the_key_until_its_period_ends(store: Store) {
    let key = store
        .create_key(&new_key(KeyLimits {
            budget_nanousd: Some(10_000_000),
            budget_period_ms: Some(1_500),
            ..KeyLimits::default()
        }))
        .await
        .unwrap();
    let call = CallUsage {
        key_id: Some(key.id.clone()),
        provider: "echo".into(),
        model: "echo".into(),
        cost_nanousd: 6_000_000,
        outcome: "ok".into(),
        ..CallUsage::default()
    };
    let admit = || async {
        let call = format!("c-{}", uuid::Uuid::now_v7());
        store.admit_call(&key.id, &call, LEASE, 0).await
    };
    assert!(matches!(admit().await.unwrap(), Admission::Admitted(..)));
    store.record_call(&call).await.unwrap();
    // Under the budget: admitted, and this one crosses it.
    assert!(matches!(admit().await.unwrap(), Admission::Admitted(..)));
    store.record_call(&call).await.unwrap();
    let refused = admit().await.unwrap();
    let Admission::Refused(
        Limit::Budget {
            spent_nanousd,
            resets_at_ms,
            ..
        },
        _,
    ) = refused
    else {
        panic!("over budget: {refused:?}")
    };
    assert_eq!(spent_nanousd, 12_000_000);
    let resets_at_ms = resets_at_ms.expect("a period");
    // The next period opens it again.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match admit().await.unwrap() {
            Admission::Admitted(..) => break,
            Admission::Refused(Limit::Budget { .. }, _) => {
                assert!(std::time::Instant::now() < deadline, "never reopened");
                assert!(
                    now_ms() < resets_at_ms + 1_000,
                    "still closed after its period"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(now_ms() >= resets_at_ms);
}

/// The key's current minute as admission reads it: (requests, tokens).
async fn minute(store: &Store, key_id: &str) -> (i64, i64) {
    async fn read(store: &Store, key_id: &str) -> Result<Option<(i64, i64)>> {
        let now = now_ms();
        let start = now - now.rem_euclid(admission::WINDOW_MS);
        Ok(on_reader!(store.backend(), |pool| {
            sqlx::query_as(
                "SELECT requests, tokens FROM key_windows \
                 WHERE key_id = $1 AND window_start = $2",
            )
            .bind(key_id)
            .bind(start)
            .fetch_optional(pool)
            .await?
        }))
    }
    read(store, key_id).await.unwrap().unwrap_or((0, 0))
}

/// The ledger's rows of one task: (attempt, outcome, tokens, cost).
async fn attempts_of(store: &Store, task_id: &str) -> Vec<(i64, String, i64, i64)> {
    async fn read(store: &Store, task_id: &str) -> Result<Vec<(i64, String, i64, i64)>> {
        Ok(on_reader!(store.backend(), |pool| {
            sqlx::query_as(
                "SELECT attempt, outcome, input_tokens + output_tokens, cost_nanousd \
                 FROM usage_records WHERE task_id = $1 ORDER BY attempt",
            )
            .bind(task_id)
            .fetch_all(pool)
            .await?
        }))
    }
    read(store, task_id).await.unwrap()
}

pub(super) async fn tpm_counts_reservations_until_each_request_ends(store: Store) {
    let key = store
        .create_key(&new_key(KeyLimits {
            tpm: Some(100),
            ..KeyLimits::default()
        }))
        .await
        .unwrap();
    let admit = |reserve| {
        let store = store.clone();
        let key_id = key.id.clone();
        async move {
            let task = new_task("echo");
            let admitted = store.admit_task(&key_id, &task, reserve).await.unwrap();
            (task, admitted)
        }
    };
    let start = now_ms() / admission::WINDOW_MS;
    let (first, a) = admit(60).await;
    let (second, b) = admit(30).await;
    let (_, c) = admit(20).await;
    let (_, d) = admit(5).await;
    if now_ms() / admission::WINDOW_MS != start {
        // A new minute began: its tokens count anew; nothing to check.
        return;
    }
    // 0 and 60 were under 100 when admitted; 90 too, and this one went
    // over by itself alone; 110 is not.
    let Admission::Admitted(_, window) = a else {
        panic!("{a:?}")
    };
    assert_eq!(window.tokens, 60, "the reservation counts at once");
    assert!(matches!(b, Admission::Admitted(..)), "{b:?}");
    assert!(matches!(c, Admission::Admitted(..)), "{c:?}");
    assert!(
        matches!(d, Admission::Refused(Limit::Tokens { limit: 100 }, _)),
        "{d:?}"
    );
    assert_eq!(minute(&store, &key.id).await.1, 110);
    // The first ends having used 7: its 60 are given back, its 7 count.
    let claimed = claim(&store, "w", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    assert_eq!(
        store
            .complete(&first.id, claimed.attempt, &priced(5, 2, 1))
            .await
            .unwrap(),
        Fenced::Applied
    );
    // The second fails after a retry: no tokens, its 30 given back once.
    let claimed = claim(&store, "w", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, second.id);
    assert_eq!(
        store
            .retry(
                &second.id,
                claimed.attempt,
                &error(ErrorCode::RateLimited),
                Duration::ZERO,
            )
            .await
            .unwrap(),
        Retry::Scheduled
    );
    // The second fails on its next attempt; the third is cancelled while
    // it runs.
    let claimed = store.claim_batch("w", LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    for task in &claimed {
        if task.id == second.id {
            let failed = store
                .fail(&task.id, task.attempt, &error(ErrorCode::UpstreamError))
                .await
                .unwrap();
            assert_eq!(failed, Fenced::Applied);
        } else {
            store.cancel(&task.id).await.unwrap();
            let cancelled = store.record_cancelled(&task.id, task.attempt).await;
            assert_eq!(cancelled.unwrap(), Fenced::Applied);
        }
    }
    if now_ms() / admission::WINDOW_MS != start {
        return;
    }
    assert_eq!(
        minute(&store, &key.id).await,
        (3, 7),
        "a refused request is not counted"
    );

    // A `/v1` call: reserved at admission, its answer's tokens replace the
    // reservation; a call that ends without an answer gives it all back.
    let call = |id: &str| CallUsage {
        key_id: Some(key.id.clone()),
        call_id: Some(id.to_owned()),
        provider: "echo".into(),
        model: "echo".into(),
        input_tokens: 3,
        output_tokens: 3,
        outcome: "ok".into(),
        ..CallUsage::default()
    };
    let (one, two) = (format!("c1-{}", key.id), format!("c2-{}", key.id));
    assert!(matches!(
        store.admit_call(&key.id, &one, LEASE, 50).await.unwrap(),
        Admission::Admitted(..)
    ));
    assert!(matches!(
        store.admit_call(&key.id, &two, LEASE, 40).await.unwrap(),
        Admission::Admitted(..)
    ));
    let failed = CallUsage {
        outcome: "upstream".into(),
        input_tokens: 0,
        output_tokens: 0,
        ..call(&two)
    };
    store.record_call(&failed).await.unwrap();
    store.record_call(&call(&one)).await.unwrap();
    if now_ms() / admission::WINDOW_MS != start {
        return;
    }
    assert_eq!(minute(&store, &key.id).await.1, 7 + 6 + 40);
    store.end_call(&one).await.unwrap();
    store.end_call(&two).await.unwrap();
    if now_ms() / admission::WINDOW_MS != start {
        return;
    }
    assert_eq!(minute(&store, &key.id).await.1, 7 + 6);
}

pub(super) async fn every_attempt_is_a_ledger_row_with_its_outcome(store: Store) {
    let key = store
        .create_key(&new_key(KeyLimits::default()))
        .await
        .unwrap();
    let mut task = new_task("echo");
    task.max_attempts = 5;
    store.admit_task(&key.id, &task, 10).await.unwrap();
    // Failed and retried; interrupted (its lease expired); handed back at
    // shutdown; completed.
    let claimed = claim(&store, "w", LEASE).await.unwrap().unwrap();
    assert_eq!(
        store
            .retry(
                &task.id,
                claimed.attempt,
                &error(ErrorCode::RateLimited),
                Duration::ZERO,
            )
            .await
            .unwrap(),
        Retry::Scheduled
    );
    claim_and_expire(&store).await;
    store.rescue_expired(now_ms()).await.unwrap();
    let claimed = claim(&store, "w", LEASE).await.unwrap().unwrap();
    assert_eq!(
        store.release(&task.id, claimed.attempt).await.unwrap(),
        Fenced::Applied
    );
    let claimed = claim(&store, "w", LEASE).await.unwrap().unwrap();
    assert_eq!(
        store
            .complete(&task.id, claimed.attempt, &priced(4, 2, 9))
            .await
            .unwrap(),
        Fenced::Applied
    );
    let outcomes = attempts_of(&store, &task.id).await;
    let expect = |a: i64, o: &str, t: i64, c: i64| (a, o.to_owned(), t, c);
    assert_eq!(
        outcomes,
        [
            expect(1, "rate_limited", 0, 0),
            expect(2, "interrupted", 0, 0),
            expect(3, "interrupted", 0, 0),
            expect(4, "ok", 6, 9),
        ]
    );
    // A route's task: its attempt is attributed to the target it ended on.
    let mut routed = new_task("smart");
    routed.model = "smart".into();
    routed.route = Some("smart".into());
    store.admit_task(&key.id, &routed, 10).await.unwrap();
    let stored = store.get(&routed.id).await.unwrap().unwrap();
    assert_eq!(
        stored.route.as_deref(),
        Some("smart"),
        "a tenant's task keeps its route"
    );
    let claimed = claim(&store, "w", LEASE).await.unwrap().unwrap();
    let log: Vec<AttemptRecord> = ["echo/echo-error:timeout", "echo/echo"]
        .into_iter()
        .map(|target| AttemptRecord {
            attempt: claimed.attempt,
            target: target.into(),
            outcome: AttemptOutcome::Completed,
            error_code: None,
            duration_ms: 1,
            first_token_ms: None,
            started_at: chrono::Utc::now(),
        })
        .collect();
    let done = store
        .complete_logged(&routed.id, claimed.attempt, &priced(1, 1, 1), &log)
        .await
        .unwrap();
    assert_eq!(done, Fenced::Applied);
    let rows = store
        .usage(&UsageQuery {
            key_id: Some(key.id.clone()),
            ..everything(vec![GroupBy::Provider, GroupBy::Model, GroupBy::Outcome])
        })
        .await
        .unwrap();
    assert!(
        rows.iter().any(|g| g.provider.as_deref() == Some("echo")
            && g.model.as_deref() == Some("echo")
            && g.outcome.as_deref() == Some("ok")
            && (g.requests, g.input_tokens) == (2, 4 + 1)),
        "{rows:?}"
    );
    assert!(
        rows.iter().all(|g| g.provider.as_deref() != Some("smart")),
        "{rows:?}"
    );

    // A cancelled attempt, and one failed by the rescuer.
    for (cancel, outcome) in [(true, "cancelled"), (false, "lease_expired")] {
        let mut task = new_task("echo");
        task.max_attempts = 1;
        store.admit_task(&key.id, &task, 10).await.unwrap();
        if cancel {
            let claimed = claim(&store, "w", LEASE).await.unwrap().unwrap();
            store.cancel(&task.id).await.unwrap();
            assert_eq!(
                store
                    .record_cancelled(&task.id, claimed.attempt)
                    .await
                    .unwrap(),
                Fenced::Applied
            );
        } else {
            claim_and_expire(&store).await;
            store.rescue_expired(now_ms()).await.unwrap();
        }
        let recorded: Vec<String> = attempts_of(&store, &task.id)
            .await
            .into_iter()
            .map(|row| row.1)
            .collect();
        assert_eq!(recorded, [outcome]);
    }
}

pub(super) async fn a_roll_up_keeps_every_sum(store: Store) {
    let call = |key: Option<&str>, model: &str, tokens: i64| CallUsage {
        key_id: key.map(str::to_owned),
        provider: "echo".into(),
        model: model.into(),
        input_tokens: tokens,
        output_tokens: 1,
        latency_ms: 10,
        cost_nanousd: tokens * 3,
        outcome: "ok".into(),
        ..CallUsage::default()
    };
    for (key, model, tokens) in [
        (Some("k1"), "a", 1),
        (Some("k1"), "a", 2),
        (Some("k1"), "b", 3),
        (None, "a", 4),
        (None, "a", 5),
    ] {
        store.record_call(&call(key, model, tokens)).await.unwrap();
    }
    let groups = vec![GroupBy::Key, GroupBy::Model, GroupBy::Day];
    let before = store.usage(&everything(groups.clone())).await.unwrap();
    let tomorrow = (now_ms() / 86_400_000 + 1) * 86_400_000;
    assert_eq!(store.roll_up_usage(tomorrow).await.unwrap(), 5);
    assert_eq!(store.usage(&everything(groups)).await.unwrap(), before);
    assert_eq!(
        store.roll_up_usage(tomorrow).await.unwrap(),
        0,
        "nothing left to roll up"
    );
    // Rows after the cut are left as they are.
    store.record_call(&call(Some("k1"), "a", 1)).await.unwrap();
    assert_eq!(
        store
            .roll_up_usage(now_ms() / 86_400_000 * 86_400_000)
            .await
            .unwrap(),
        0
    );
}

/// Keyless `/v1` calls that end together share a statement (`batch.rs`):
/// each is a row of its own, with its own tokens, cost, route and
/// outcome, and the totals are exactly their sums.
pub(super) async fn concurrent_keyless_calls_are_each_a_row_of_their_own(store: Store) {
    let calls: Vec<CallUsage> = (0..150_i64)
        .map(|i| CallUsage {
            provider: format!("p{}", i % 3),
            model: "m".into(),
            route: (i % 2 == 0).then(|| "smart".to_owned()),
            outcome: if i % 5 == 0 { "rate_limited" } else { "ok" }.into(),
            input_tokens: i,
            output_tokens: 2 * i,
            cached_tokens: i % 7,
            reasoning_tokens: i % 11,
            latency_ms: 1,
            cost_nanousd: 1_000 + i,
            ..CallUsage::default()
        })
        .collect();
    let written = futures::future::join_all(calls.iter().map(|c| store.record_call(c))).await;
    assert!(written.iter().all(Result::is_ok), "{written:?}");
    let by_provider = store
        .usage(&everything(vec![GroupBy::Provider, GroupBy::Outcome]))
        .await
        .unwrap();
    let expected = |provider: &str, ok: bool| {
        calls
            .iter()
            .filter(|c| c.provider == provider && (c.outcome == "ok") == ok)
            .fold((0, 0, 0, 0, 0, 0), |s, c| {
                (
                    s.0 + 1,
                    s.1 + c.input_tokens,
                    s.2 + c.output_tokens,
                    s.3 + c.cached_tokens,
                    s.4 + c.reasoning_tokens,
                    s.5 + c.cost_nanousd,
                )
            })
    };
    assert_eq!(by_provider.len(), 6, "{by_provider:?}");
    for g in &by_provider {
        let provider = g.provider.as_deref().unwrap();
        let ok = g.outcome.as_deref() == Some("ok");
        assert_eq!(
            (
                g.requests,
                g.input_tokens,
                g.output_tokens,
                g.cached_tokens,
                g.reasoning_tokens,
                g.cost_nanousd
            ),
            expected(provider, ok),
            "{g:?}"
        );
        assert_eq!(g.key_id, None);
    }
    assert_eq!(keyless_routed(&store).await.unwrap(), 75);
}

/// A keyless call's row queued after its answer (`record_call_later`)
/// waits for company up to the record delay: any other write, a flush or a
/// read of the ledger ends the wait; with no delay it is written at once.
pub(super) async fn keyless_rows_queued_after_the_answer_wait_for_company(store: Store) {
    let row = |provider: &str| CallUsage {
        provider: provider.into(),
        model: "m".into(),
        outcome: "ok".into(),
        input_tokens: 2,
        output_tokens: 3,
        cost_nanousd: 7,
        ..CallUsage::default()
    };
    store.set_record_delay(Duration::from_secs(600));
    for provider in ["a", "b", "c"] {
        store.record_call_later(row(provider)).unwrap();
    }
    // Not written: they wait for company. (A wait can only show that
    // something did not happen by taking time: 300 ms is far more than
    // writing three rows takes.)
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ledger_rows(&store).await.unwrap(), 0);
    // Reading the ledger writes what this process queued first.
    let totals = store.usage(&everything(vec![])).await.unwrap();
    assert_eq!(
        (
            totals[0].requests,
            totals[0].input_tokens,
            totals[0].cost_nanousd
        ),
        (3, 6, 21)
    );
    // Another write ends the wait: both go in its turn.
    store.record_call_later(row("d")).unwrap();
    store.record_call(&row("e")).await.unwrap();
    assert_eq!(ledger_rows(&store).await.unwrap(), 5);
    // So does a flush (what shutdown does).
    store.record_call_later(row("f")).unwrap();
    store.flush_records().await.unwrap();
    assert_eq!(ledger_rows(&store).await.unwrap(), 6);
    // Without a delay, a row is written as soon as the writer is free.
    store.set_record_delay(Duration::ZERO);
    store.record_call_later(row("g")).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while ledger_rows(&store).await.unwrap() < 7 {
        assert!(tokio::time::Instant::now() < deadline, "never written");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How many rows the ledger holds.
async fn ledger_rows(store: &Store) -> Result<i64> {
    Ok(on_reader!(store.backend(), |pool| {
        sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM usage_records")
            .fetch_one(pool)
            .await?
    }))
}

/// How many keyless ledger rows name the route `smart`.
async fn keyless_routed(store: &Store) -> Result<i64> {
    Ok(on_reader!(store.backend(), |pool| {
        sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM usage_records \
             WHERE route = 'smart' AND key_id IS NULL",
        )
        .fetch_one(pool)
        .await?
    }))
}
