//! Tenants' keys and admission against their limits: keys found by hash
//! until revoked, counts exact under concurrent admissions, idempotency
//! keys scoped to their key.

use super::*;
use crate::admission::{Admission, Limit};
use crate::keys::{KeyLimits, KeyUpdate};
use crate::testing::new_key;

pub(super) async fn a_key_is_found_by_its_hash_until_it_is_revoked(store: Store) {
    let new = new_key(KeyLimits {
        rpm: Some(10),
        ..KeyLimits::default()
    });
    let created = store.create_key(&new).await.unwrap();
    assert_eq!(created.limits.rpm, Some(10));
    let found = store.key_by_hash(&new.hash).await.unwrap().unwrap();
    assert_eq!(found.id, new.id);
    assert_eq!(store.keys().await.unwrap().len(), 1);

    let limits = KeyLimits {
        tpm: Some(500),
        ..KeyLimits::default()
    };
    let models = vec!["echo/*".to_owned()];
    let KeyUpdate::Updated(updated) = store
        .update_key(&new.id, "renamed", &models, &limits)
        .await
        .unwrap()
    else {
        panic!("a live key is updated")
    };
    assert_eq!(
        (updated.name.as_str(), &updated.models, &updated.limits),
        ("renamed", &models, &limits)
    );

    let revoked = store.revoke_key(&new.id).await.unwrap().unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(store.key_by_hash(&new.hash).await.unwrap(), None);
    let again = store.revoke_key(&new.id).await.unwrap().unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at, "revoked once");
    assert!(matches!(
        store
            .update_key(&new.id, "x", &models, &limits)
            .await
            .unwrap(),
        KeyUpdate::Revoked(_)
    ));
    assert_eq!(store.revoke_key("no-such-key").await.unwrap(), None);
    let task = new_task("echo");
    assert!(matches!(
        store.admit_task(&new.id, &task, 0).await.unwrap(),
        Admission::Refused(Limit::Revoked, _)
    ));
    assert_eq!(store.get(&task.id).await.unwrap(), None);
}

pub(super) async fn concurrent_admissions_hold_rpm_and_parallel_exactly(store: Store) {
    let rpm = store
        .create_key(&new_key(KeyLimits {
            rpm: Some(5),
            ..KeyLimits::default()
        }))
        .await
        .unwrap();
    let parallel = store
        .create_key(&new_key(KeyLimits {
            max_parallel: Some(3),
            ..KeyLimits::default()
        }))
        .await
        .unwrap();
    for (key, admitted_at_most, limit) in [
        (&rpm, 5, Limit::Requests { limit: 5 }),
        (&parallel, 3, Limit::Parallel { limit: 3 }),
    ] {
        let attempts = (0..20).map(|i| {
            let store = store.clone();
            let key_id = key.id.clone();
            async move {
                if i % 2 == 0 {
                    store
                        .admit_task(&key_id, &new_task("echo"), 0)
                        .await
                        .map(|a| matches!(a, Admission::Admitted(..)))
                } else {
                    let call = format!("call-{key_id}-{i}");
                    store
                        .admit_call(&key_id, &call, Duration::from_secs(60), 0)
                        .await
                        .map(|a| matches!(a, Admission::Admitted(..)))
                }
            }
        });
        let minute = || now_ms() / admission::WINDOW_MS;
        let before = minute();
        let results = futures::future::join_all(attempts).await;
        let admitted = results.into_iter().filter(|r| *r.as_ref().unwrap()).count();
        let refused = store
            .admit_task(&key.id, &new_task("echo"), 0)
            .await
            .unwrap();
        if limit == (Limit::Requests { limit: 5 }) && minute() != before {
            // A new minute began meanwhile: its requests count anew.
            assert!(admitted <= 10, "{admitted} admitted over two minutes");
            continue;
        }
        assert_eq!(admitted, admitted_at_most, "{limit:?}");
        assert!(
            matches!(&refused, Admission::Refused(l, _) if *l == limit),
            "{refused:?}"
        );
    }
    // A finished call no longer counts in flight; a cancelled task neither.
    for i in 0..20 {
        let call = format!("call-{}-{i}", parallel.id);
        store.end_call(&call).await.unwrap();
    }
    let page = store
        .list(&ListQuery {
            key_id: Some(parallel.id.clone()),
            limit: 100,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    for task in &page.tasks {
        let _ = store.cancel(&task.task_id).await.unwrap();
    }
    assert!(matches!(
        store
            .admit_task(&parallel.id, &new_task("echo"), 0)
            .await
            .unwrap(),
        Admission::Admitted(..)
    ));
}

pub(super) async fn an_idempotency_key_belongs_to_its_api_key(store: Store) {
    let first = store
        .create_key(&new_key(KeyLimits::default()))
        .await
        .unwrap();
    let second = store
        .create_key(&new_key(KeyLimits::default()))
        .await
        .unwrap();
    let mut task = new_task("echo");
    task.idempotency = Some(Idempotency {
        key: "same".into(),
        request_hash: "h".into(),
    });
    let Admission::Admitted(Inserted::Created(stored), _) =
        store.admit_task(&first.id, &task, 0).await.unwrap()
    else {
        panic!("created")
    };
    assert_eq!(stored.key_id.as_deref(), Some(first.id.as_str()));
    let again = store.admit_task(&first.id, &task, 0).await.unwrap();
    assert!(
        matches!(&again, Admission::Admitted(Inserted::Existing(t), _) if t.task_id == task.id),
        "{again:?}"
    );
    let mut other = task.clone();
    other.id = uuid::Uuid::now_v7().to_string();
    let theirs = store.admit_task(&second.id, &other, 0).await.unwrap();
    assert!(
        matches!(&theirs, Admission::Admitted(Inserted::Created(t), _) if t.task_id == other.id),
        "{theirs:?}"
    );
    let mine = store
        .list(&ListQuery {
            key_id: Some(first.id.clone()),
            limit: 10,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.tasks.len(), 1);
}

pub(super) async fn a_rotated_key_keeps_its_id_and_refuses_its_old_secret(store: Store) {
    let new = new_key(KeyLimits {
        rpm: Some(7),
        ..KeyLimits::default()
    });
    store.create_key(&new).await.unwrap();
    let fresh = format!("{:064x}", 42);
    let KeyUpdate::Updated(rotated) = store.rotate_key(&new.id, &fresh, "lhk_new").await.unwrap()
    else {
        panic!("a live key is rotated")
    };
    assert_eq!(
        (rotated.id.as_str(), rotated.limits.rpm),
        (new.id.as_str(), Some(7))
    );
    assert_eq!(rotated.prefix, "lhk_new");
    assert_eq!(store.key_by_hash(&new.hash).await.unwrap(), None);
    assert_eq!(
        store.key_by_hash(&fresh).await.unwrap().map(|k| k.id),
        Some(new.id.clone())
    );
    store.revoke_key(&new.id).await.unwrap();
    assert!(matches!(
        store.rotate_key(&new.id, "other", "x").await.unwrap(),
        KeyUpdate::Revoked(_)
    ));
    assert_eq!(
        store.rotate_key("no-such-key", "other", "x").await.unwrap(),
        KeyUpdate::NotFound
    );
}
