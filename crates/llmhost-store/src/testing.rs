//! Helpers for this crate's tests and its black-box tests; not part of the
//! product. A PostgreSQL database of its own for each test, and a task to
//! submit.

use crate::NewTask;
use crate::task::{Message, Params, Role, TaskInput};

/// A task for `provider` (model `echo`, prompt `hi`, two attempts, a little
/// metadata), under a fresh id and without an idempotency key.
pub fn new_task(provider: &str) -> NewTask {
    NewTask {
        id: uuid::Uuid::now_v7().to_string(),
        provider: provider.into(),
        model: "echo".into(),
        route: None,
        input: TaskInput {
            messages: vec![Message::text(Role::User, "hi")],
            tools: Vec::new(),
            params: Params::default(),
        },
        metadata: Some(serde_json::json!({"k": "v"})),
        max_attempts: 2,
        timeout_ms: None,
        idempotency: None,
    }
}

/// A key with these limits, a fresh id and hash, allowed every model.
pub fn new_key(limits: crate::keys::KeyLimits) -> crate::keys::NewKey {
    let id = uuid::Uuid::now_v7().simple().to_string();
    crate::keys::NewKey {
        hash: format!("hash-of-{id}"),
        prefix: "lhk_test".into(),
        name: format!("key {id}"),
        id,
        models: Vec::new(),
        limits,
    }
}

/// A fresh database on the test server (`LLMHOST_TEST_POSTGRES_URL`, default
/// `postgres://postgres@127.0.0.1:5432/test`), dropped with the value.
pub struct TestDatabase {
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDatabase {
    /// `None` when no server answers: the caller reports the test skipped.
    /// Under `CI=true` PostgreSQL must be there, and its absence panics.
    pub async fn create() -> Option<Self> {
        let admin_url = std::env::var("LLMHOST_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let admin = match sqlx::PgPool::connect(&admin_url).await {
            Ok(pool) => pool,
            Err(err) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("skipped: no PostgreSQL at {admin_url} ({err})");
                return None;
            }
            Err(err) => panic!("CI needs PostgreSQL at {admin_url}: {err}"),
        };
        let name = format!("llmhost_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create the test database");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        Some(Self {
            url: format!("{base}/{name}"),
            name,
            admin_url,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop cannot await: a short-lived runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(admin) = sqlx::PgPool::connect(&admin_url).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::query(&sql).execute(&admin).await;
                    }
                });
            }
        })
        .join();
    }
}
