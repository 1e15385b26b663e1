//! Reading: listing and paging.

use super::*;

pub(super) async fn list_filters_by_status_and_provider_and_pages_newest_first(store: Store) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let task = new_task(if i % 2 == 0 { "echo" } else { "other" });
        insert(&store, &task).await;
        ids.push(task.id);
    }
    let claimed = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, ids[0]);
    let page = |status, provider: Option<&str>, cursor| ListQuery {
        status,
        provider: provider.map(String::from),
        key_id: None,
        limit: 2,
        cursor,
        ..ListQuery::default()
    };
    let first = store.list(&page(None, None, None)).await.unwrap();
    assert_eq!(
        first
            .tasks
            .iter()
            .map(|t| t.task_id.clone())
            .collect::<Vec<_>>(),
        [ids[4].clone(), ids[3].clone()]
    );
    let second = store
        .list(&page(None, None, first.next_cursor))
        .await
        .unwrap();
    assert_eq!(
        second
            .tasks
            .iter()
            .map(|t| t.task_id.clone())
            .collect::<Vec<_>>(),
        [ids[2].clone(), ids[1].clone()]
    );
    let third = store
        .list(&page(None, None, second.next_cursor))
        .await
        .unwrap();
    assert_eq!(third.tasks.len(), 1);
    assert!(third.next_cursor.is_none());
    let echo_pending = store
        .list(&page(Some(TaskStatus::Pending), Some("echo"), None))
        .await
        .unwrap();
    assert_eq!(
        echo_pending
            .tasks
            .iter()
            .map(|t| t.task_id.clone())
            .collect::<Vec<_>>(),
        [ids[4].clone(), ids[2].clone()]
    );
    let running = store
        .list(&page(Some(TaskStatus::Running), None, None))
        .await
        .unwrap();
    assert_eq!(running.tasks.len(), 1);
}

pub(super) async fn list_filters_by_model_error_code_time_and_id_or_key(store: Store) {
    let mut plain = new_task("echo");
    plain.model = "other-model".into();
    let plain = insert(&store, &plain).await;
    let mut keyed = new_task("echo");
    keyed.idempotency = Some(Idempotency {
        key: "key-1".into(),
        request_hash: "h".into(),
    });
    let keyed = insert(&store, &keyed).await;
    let claimed = claim(&store, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, plain.task_id);
    let failed = store
        .fail(&claimed.id, claimed.attempt, &error(ErrorCode::RateLimited))
        .await
        .unwrap();
    assert_eq!(failed, Fenced::Applied);
    let ids = |query: ListQuery| {
        let store = store.clone();
        async move {
            let page = store.list(&ListQuery { limit: 10, ..query }).await.unwrap();
            page.tasks
                .into_iter()
                .map(|t| t.task_id)
                .collect::<Vec<_>>()
        }
    };
    let by_model = ids(ListQuery {
        model: Some("other-model".into()),
        ..ListQuery::default()
    });
    assert_eq!(by_model.await, [plain.task_id.as_str()]);
    let by_code = ids(ListQuery {
        error_code: Some("rate_limited".into()),
        ..ListQuery::default()
    });
    assert_eq!(by_code.await, [plain.task_id.as_str()]);
    let by_key = ids(ListQuery {
        search: Some("key-1".into()),
        ..ListQuery::default()
    });
    assert_eq!(by_key.await, [keyed.task_id.as_str()]);
    let by_id = ids(ListQuery {
        search: Some(plain.task_id.clone()),
        ..ListQuery::default()
    });
    assert_eq!(by_id.await, [plain.task_id.as_str()]);
    let created = keyed.created_at.timestamp_millis();
    let from_keyed = ids(ListQuery {
        created_from: Some(created),
        ..ListQuery::default()
    });
    assert!(from_keyed.await.contains(&keyed.task_id));
    let before_all = ids(ListQuery {
        created_to: Some(plain.created_at.timestamp_millis()),
        ..ListQuery::default()
    });
    assert!(before_all.await.is_empty());
}

pub(super) async fn list_by_route_finds_the_routes_tasks_and_not_an_instance_of_that_name(
    store: Store,
) {
    // A routed task holds its alias as provider and model too.
    let mut routed = new_task("smart");
    routed.model = "smart".into();
    routed.route = Some("smart".into());
    let routed = insert(&store, &routed).await;
    let named = insert(&store, &new_task("smart")).await;
    insert(&store, &new_task("echo")).await;
    let list = |provider: Option<&str>, route: Option<&str>| {
        let query = ListQuery {
            provider: provider.map(String::from),
            route: route.map(String::from),
            limit: 10,
            ..ListQuery::default()
        };
        let store = store.clone();
        async move {
            let page = store.list(&query).await.unwrap();
            page.tasks
                .into_iter()
                .map(|t| t.task_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(None, Some("smart")).await, [routed.task_id.as_str()]);
    assert_eq!(
        list(Some("smart"), None).await,
        [named.task_id.as_str(), routed.task_id.as_str()]
    );
    assert_eq!(
        list(Some("smart"), Some("smart")).await,
        [routed.task_id.as_str()]
    );
    assert!(list(Some("echo"), Some("smart")).await.is_empty());
    assert!(list(None, Some("nope")).await.is_empty());
}

pub(super) async fn the_overview_counts_finished_tasks_by_slice_and_provider(store: Store) {
    let done = running_tasks(&store, 3).await;
    let log = |first_token_ms| {
        vec![AttemptRecord {
            attempt: 1,
            target: "echo/echo".into(),
            outcome: AttemptOutcome::Completed,
            error_code: None,
            duration_ms: 30,
            first_token_ms,
            started_at: chrono::Utc::now(),
        }]
    };
    for (task, first) in done[..2].iter().zip([Some(7), None]) {
        let stored = store
            .complete_logged(&task.id, task.attempt, &answer("ok"), &log(first))
            .await
            .unwrap();
        assert_eq!(stored, Fenced::Applied);
    }
    let failed = store
        .fail(&done[2].id, done[2].attempt, &error(ErrorCode::Timeout))
        .await
        .unwrap();
    assert_eq!(failed, Fenced::Applied);
    insert(&store, &new_task("other")).await;
    let overview = store
        .overview(OverviewQuery::ending_at(now_ms(), 240, 4))
        .await
        .unwrap();
    assert_eq!(overview.counts.get(&TaskStatus::Completed), Some(&2));
    assert_eq!(overview.counts.get(&TaskStatus::Failed), Some(&1));
    assert_eq!(overview.counts.get(&TaskStatus::Pending), Some(&1));
    assert_eq!(overview.buckets.len(), 4);
    let total = |f: fn(&Bucket) -> i64| overview.buckets.iter().map(f).sum::<i64>();
    assert_eq!(total(|b| b.completed), 2);
    assert_eq!(total(|b| b.failed), 1);
    assert_eq!(overview.providers.len(), 1, "{:?}", overview.providers);
    let echo = &overview.providers[0];
    assert_eq!(
        (echo.provider.as_str(), echo.completed, echo.failed),
        ("echo", 2, 1)
    );
    assert!(
        echo.p50_ms.is_some() && echo.p95_ms >= echo.p50_ms,
        "{echo:?}"
    );
    // One of the two recorded its time to first token.
    assert_eq!(
        (echo.first_token_p50_ms, echo.first_token_p95_ms),
        (Some(7), Some(7))
    );
    let later = store
        .overview(OverviewQuery::ending_at(now_ms() + 120_000, 60, 1))
        .await
        .unwrap();
    assert!(later.providers.is_empty());
    assert_eq!(later.buckets.iter().map(|b| b.completed).sum::<i64>(), 0);
    // The totals are the store's, whatever the window.
    assert_eq!(later.counts.get(&TaskStatus::Completed), Some(&2));
}

/// The totals follow tasks that leave the store; the minutes keep history.
pub(super) async fn the_overview_totals_drop_deleted_tasks(store: Store) {
    let done = running_tasks(&store, 2).await;
    for task in &done {
        let stored = store
            .complete(&task.id, task.attempt, &answer("ok"))
            .await
            .unwrap();
        assert_eq!(stored, Fenced::Applied);
    }
    delete_task(&store, &done[0].id).await.unwrap();
    let overview = store
        .overview(OverviewQuery::ending_at(now_ms(), 240, 1))
        .await
        .unwrap();
    assert_eq!(overview.counts.get(&TaskStatus::Completed), Some(&1));
    assert_eq!(overview.buckets[0].completed, 2);
}

/// Deletes a task, as retention would.
async fn delete_task(store: &Store, id: &str) -> Result<()> {
    on_writer!(store.backend(), |pool| {
        sqlx::query("DELETE FROM tasks WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ())?
    });
    Ok(())
}
