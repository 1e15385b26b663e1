//! The dashboard's reads on a large store: the real `llmhost serve`, its
//! database filled with BENCH_DASHBOARD_TASKS (100000) tasks straight
//! through SQL (85% completed, 10% failed, 3% cancelled, 2% waiting, over
//! four providers and seven models, all finished within the last hour, the
//! overview's worst case), then the time of each request the dashboard's
//! first pages make, over loopback HTTP from this process (so an upper
//! bound of the server's time): the task list's first page, a filtered
//! page, a page deep in the list, a search by id, and the overview. On
//! SQLite, and on PostgreSQL when LLMHOST_TEST_POSTGRES_URL answers (a
//! fresh database each run). Prints p50/p95/max per request and the load
//! average. Run with `just bench` (or `cargo bench --bench dashboard`).

mod common;

use std::time::{Duration, Instant};

use common::{Server, load_average, percentile, setting};
use llmhost_store::task::{Message, Params, Role, TaskInput, TaskResult};
use llmhost_store::testing::TestDatabase;

const ROUNDS: usize = 200;

fn input_json() -> String {
    serde_json::to_string(&TaskInput {
        messages: vec![Message::text(
            Role::User,
            "a benchmark prompt of some length",
        )],
        tools: Vec::new(),
        params: Params::default(),
    })
    .unwrap()
}

fn result_json() -> String {
    serde_json::to_string(&TaskResult {
        text: "a benchmark answer of some length".into(),
        finish_reason: "stop".into(),
        usage: None,
        model: "model".into(),
        tool_calls: Vec::new(),
        reasoning: None,
        refusal: None,
        response_id: None,
        provider_state: None,
    })
    .unwrap()
}

/// The rows, as one statement per database. `$1` tasks, created `$3` ms
/// apart from `$2`; waiting ones are due in a day, so no worker takes them.
fn seed_sql(postgres: bool) -> String {
    let (rows, id) = if postgres {
        (
            "generate_series(0, $1 - 1) AS n(i)",
            "'bench-' || lpad(i::text, 8, '0')",
        )
    } else {
        (
            "(WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $1 - 1) \
             SELECT i FROM n)",
            "printf('bench-%08d', i)",
        )
    };
    format!(
        "INSERT INTO tasks (id, status, provider, model, input, result, error_code, \
             error_message, attempts, max_attempts, run_at, created_at, updated_at, \
             started_at, completed_at) \
         SELECT {id}, \
             CASE WHEN i % 100 < 85 THEN 'completed' WHEN i % 100 < 95 THEN 'failed' \
                  WHEN i % 100 < 98 THEN 'cancelled' ELSE 'pending' END, \
             'provider-' || (i % 4), 'model-' || (i % 7), $4, \
             CASE WHEN i % 100 < 85 THEN $5 END, \
             CASE WHEN i % 100 >= 85 AND i % 100 < 95 THEN 'rate_limited' END, \
             CASE WHEN i % 100 >= 85 AND i % 100 < 95 THEN 'the upstream is busy' END, \
             CASE WHEN i % 100 < 98 THEN 1 ELSE 0 END, 3, \
             CASE WHEN i % 100 < 98 THEN $2 + i * $3 ELSE $2 + 86400000 END, \
             $2 + i * $3, $2 + i * $3 + 500, \
             CASE WHEN i % 100 < 95 THEN $2 + i * $3 + 20 END, \
             CASE WHEN i % 100 < 98 THEN $2 + i * $3 + 20 + (i % 50) * 10 END \
         FROM {rows}"
    )
}

/// The seed's bind values: tasks, the first creation time, the step.
fn spread(tasks: i64) -> (i64, i64) {
    let step = 3_000_000 / tasks.max(1);
    let start = chrono::Utc::now().timestamp_millis() - 3_100_000;
    (start, step)
}

async fn seed_sqlite(path: &std::path::Path, tasks: i64) {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let (start, step) = spread(tasks);
    let started = Instant::now();
    sqlx::query(&seed_sql(false))
        .bind(tasks)
        .bind(start)
        .bind(step)
        .bind(input_json())
        .bind(result_json())
        .execute(&pool)
        .await
        .unwrap();
    eprintln!(
        "  seeded {tasks} tasks in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    pool.close().await;
}

async fn seed_postgres(url: &str, tasks: i64) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let (start, step) = spread(tasks);
    let started = Instant::now();
    sqlx::query(&seed_sql(true))
        .bind(tasks)
        .bind(start)
        .bind(step)
        .bind(input_json())
        .bind(result_json())
        .execute(&pool)
        .await
        .unwrap();
    // As autovacuum would soon after such an insert (statistics, and the
    // visibility map that lets index-only scans skip the table).
    sqlx::query("VACUUM ANALYZE tasks")
        .execute(&pool)
        .await
        .unwrap();
    eprintln!(
        "  seeded {tasks} tasks in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    pool.close().await;
}

/// Times `ROUNDS` GETs of `path`; prints and returns the p95.
async fn measure(http: &reqwest::Client, server: &Server, name: &str, path: &str) -> Duration {
    let url = format!("{}{path}", server.base);
    let mut times = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS + 10 {
        let sent = Instant::now();
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        response.bytes().await.unwrap();
        // The first few warm the caches, as a page in use has them.
        if round >= 10 {
            times.push(sent.elapsed());
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p95 = percentile(&times, 0.95);
    println!(
        "  {name:<28} p50 {:>7.2} ms  p95 {:>7.2} ms  max {:>7.2} ms",
        ms(percentile(&times, 0.5)),
        ms(p95),
        ms(*times.last().unwrap())
    );
    p95
}

async fn run(server: &Server, backend: &str) {
    let http = reqwest::Client::new();
    let first: serde_json::Value = http
        .get(format!("{}/api/v1/tasks?limit=50", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let deep: i64 = cursor.parse::<i64>().unwrap() / 2;
    println!("{backend} (load average {}):", load_average());
    let pages = [
        ("task list, first page", "/api/v1/tasks?limit=50".to_owned()),
        (
            "failed of one provider",
            "/api/v1/tasks?limit=50&status=failed&provider=provider-1".to_owned(),
        ),
        (
            "by model and error code",
            "/api/v1/tasks?limit=50&model=model-3&error_code=rate_limited".to_owned(),
        ),
        (
            "a page in the middle",
            format!("/api/v1/tasks?limit=50&cursor={deep}"),
        ),
        ("search by id", "/api/v1/tasks?q=bench-00050000".to_owned()),
        ("overview, 1 hour", "/api/v1/overview".to_owned()),
        (
            "overview, 24 hours",
            "/api/v1/overview?window=86400".to_owned(),
        ),
    ];
    let mut worst = Duration::ZERO;
    for (name, path) in &pages {
        worst = worst.max(measure(&http, server, name, path).await);
    }
    println!("  worst p95: {:.1} ms", worst.as_secs_f64() * 1000.0);
}

fn main() {
    let tasks = setting("BENCH_DASHBOARD_TASKS", 100_000) as i64;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("bench.db");
        let url = format!("sqlite://{}", db.display());
        let server = Server::start(&["--database-url", &url, "--workers", "1"]).await;
        seed_sqlite(&db, tasks).await;
        run(&server, &format!("SQLite, {tasks} tasks")).await;
        drop(server);

        match TestDatabase::create().await {
            Some(pg) => {
                let server = Server::start(&["--database-url", &pg.url, "--workers", "1"]).await;
                seed_postgres(&pg.url, tasks).await;
                run(&server, &format!("PostgreSQL, {tasks} tasks")).await;
                drop(server);
            }
            None => println!("PostgreSQL: skipped (no server at LLMHOST_TEST_POSTGRES_URL)"),
        }
    });
}
