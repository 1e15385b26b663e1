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
