//! The usage ledger: a completed attempt recorded once, in the statement
//! that completes it, with its cost; an attempt lost to a dead process
//! not at all; `/v1` calls with their key's tokens; budgets and tpm
//! counted from it.

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
    let Admission::Admitted(..) = store.admit_task(&key.id, &task).await.unwrap() else {
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
        (1, 100, 20, 3)
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
        ..CallUsage::default()
    };
    store.record_call(&call).await.unwrap();
    let refused = store.admit_task(&tpm.id, &new_task("echo")).await.unwrap();
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
    assert_eq!(total[0].requests, 3);
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
        ..CallUsage::default()
    };
    let admit = || async {
        let call = format!("c-{}", uuid::Uuid::now_v7());
        store.admit_call(&key.id, &call, LEASE).await
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
