//! Tenants' API keys over real HTTP: created with an admin token (by the
//! CLI and the API), each served within its scope and refused outside it
//! (403 naming the model, OpenAI's shape on /v1), seeing and cancelling
//! only its own tasks, refused at once on every process once revoked (and
//! its old secret once rotated), held to its limits (rpm, tpm with the
//! reservations of requests in flight, in-flight) across two API processes
//! on one PostgreSQL, and every attempt and every target called in its
//! usage.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{PATIENCE, Server, run_llmhost};
use llmhost_store::testing::TestDatabase;

const ADMIN: &str = "admin-token-0123456789";

/// Sends `body` (or nothing) with `token`; the status, headers and JSON.
async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = server
        .http
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn create_key(server: &Server, body: Value) -> (String, String) {
    let (status, _, key) = post(server, "/api/v1/keys", ADMIN, body).await;
    assert_eq!(status, 201, "{key}");
    (
        key["id"].as_str().unwrap().to_owned(),
        key["key"].as_str().unwrap().to_owned(),
    )
}

/// GETs `path` with `token`.
async fn get(server: &Server, path: &str, token: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    call(server, reqwest::Method::GET, path, token, None).await
}

/// POSTs `body` to `path` with `token`.
async fn post(
    server: &Server,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    call(server, reqwest::Method::POST, path, token, Some(body)).await
}

fn task(model: &str, prompt: &str) -> Value {
    json!({"provider": "echo", "model": model, "prompt": prompt})
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn two_keys_are_each_served_in_their_scope_and_see_only_their_own_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--auth-token", ADMIN]).await;

    // One key made by the CLI: the key alone on stdout.
    let created = run_llmhost(
        &[
            "keys",
            "create",
            "--name",
            "team-a",
            "--models",
            "echo/echo",
            "--rpm",
            "600",
            "--server",
            &server.base,
            "--token",
            ADMIN,
        ],
        &[],
    )
    .await;
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let a = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(a.starts_with("lhk_"), "{a}");
    let (b_id, b) = create_key(
        &server,
        json!({"name": "team-b", "models": ["echo/echo-slow:*"]}),
    )
    .await;

    // Each inside its scope, on the task API and /v1.
    let (status, _, mine) = post(&server, "/api/v1/tasks", &a, task("echo", "a")).await;
    assert_eq!(status, 201, "{mine}");
    let (status, _, theirs) =
        post(&server, "/api/v1/tasks", &b, task("echo-slow:600000", "b")).await;
    assert_eq!(status, 201, "{theirs}");
    let (status, _, answer) = post(&server, "/v1/chat/completions", &a, chat("echo/echo")).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _, answer) = post(
        &server,
        "/v1/chat/completions",
        &b,
        chat("echo/echo-slow:1"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");

    // Each refused outside it, naming the model.
    let (status, _, refused) = post(&server, "/api/v1/tasks", &b, task("echo", "x")).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "model_not_allowed");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"echo/echo\""),
        "{refused}"
    );
    let (status, _, refused) = post(
        &server,
        "/v1/chat/completions",
        &a,
        chat("echo/echo-slow:1"),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        refused["error"]["type"], "permission_error",
        "OpenAI's shape: {refused}"
    );
    assert_eq!(refused["error"]["code"], "model_not_allowed");
    assert_eq!(refused["error"]["param"], "model");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("echo/echo-slow:1")
    );
    let (_, _, models) = get(&server, "/v1/models", &a).await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["echo/echo"], "{models}");

    // Only their own tasks: another's is not found, not even to cancel.
    let theirs_id = theirs["task_id"].as_str().unwrap();
    let mine_id = mine["task_id"].as_str().unwrap();
    let (status, _, _) = get(&server, &format!("/api/v1/tasks/{theirs_id}"), &a).await;
    assert_eq!(status, 404);
    let (status, _, _) = get(&server, &format!("/api/v1/tasks/{theirs_id}/events"), &a).await;
    assert_eq!(status, 404);
    let (status, _, _) = call(
        &server,
        reqwest::Method::POST,
        &format!("/api/v1/tasks/{theirs_id}/cancel"),
        &a,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, _, page) = get(&server, "/api/v1/tasks", &a).await;
    let listed: Vec<&str> = page["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [mine_id], "{page}");
    let (status, _, still) = get(&server, &format!("/api/v1/tasks/{theirs_id}"), &b).await;
    assert_eq!(
        (status, &still["status"]),
        (200, &json!("running")),
        "{still}"
    );
    let (status, _, cancelled) = call(
        &server,
        reqwest::Method::POST,
        &format!("/api/v1/tasks/{theirs_id}/cancel"),
        &b,
        None,
    )
    .await;
    assert_eq!(status, 202, "its own: {cancelled}");
    assert_eq!(cancelled["key_id"], b_id.as_str());
    let (_, _, all) = get(&server, "/api/v1/tasks", ADMIN).await;
    assert_eq!(
        all["tasks"].as_array().unwrap().len(),
        2,
        "an admin sees every task"
    );

    // A key manages nothing.
    for path in ["/api/v1/keys", "/api/v1/providers", "/metrics"] {
        let (status, _, body) = get(&server, path, &a).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let log = server.log();
    assert!(
        !log.contains(&a) && !log.contains(&b),
        "a key reached the log"
    );
}

#[tokio::test]
async fn keys_are_listed_updated_and_revoked_and_their_fields_checked() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--auth-token", ADMIN]).await;
    let (id, key) = create_key(
        &server,
        json!({"name": "team-a", "models": ["echo/*"], "rpm": 600, "tpm": 200000,
               "max_parallel": 8, "budget_usd": 50, "budget_period": "30d"}),
    )
    .await;
    let (status, _, list) = get(&server, "/api/v1/keys", ADMIN).await;
    assert_eq!(status, 200);
    let listed = &list["keys"][0];
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(
        (
            &listed["budget_usd"],
            &listed["budget_period"],
            &listed["rpm"]
        ),
        (&json!(50.0), &json!("30d"), &json!(600))
    );
    assert!(listed.get("key").is_none(), "never listed: {listed}");
    assert!(key.starts_with(listed["prefix"].as_str().unwrap()));

    let path = format!("/api/v1/keys/{id}");
    let (status, _, updated) = call(
        &server,
        reqwest::Method::PATCH,
        &path,
        ADMIN,
        Some(json!({"rpm": null, "max_parallel": 2})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (&updated["rpm"], &updated["max_parallel"], &updated["tpm"]),
        (&Value::Null, &json!(2), &json!(200000))
    );

    for (body, param) in [
        (json!({"name": "x", "rpm": 0}), "rpm"),
        (json!({"name": "x", "budget_period": "1d"}), "budget_period"),
        (
            json!({"name": "x", "budget_usd": 1, "budget_period": "soon"}),
            "budget_period",
        ),
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "models": ["a b"]}), "models[0]"),
    ] {
        let (status, _, error) = post(&server, "/api/v1/keys", ADMIN, body.clone()).await;
        assert_eq!(status, 422, "{body}: {error}");
        assert_eq!(error["error"]["param"], param, "{error}");
    }
    let (status, _, error) = post(
        &server,
        "/api/v1/keys",
        ADMIN,
        json!({"name": "x", "colour": "red"}),
    )
    .await;
    assert_eq!(status, 422, "an unknown field is refused: {error}");

    let (status, _, _) = post(&server, "/api/v1/tasks", &key, task("echo", "ok")).await;
    assert_eq!(status, 201);
    let revoked = run_llmhost(
        &[
            "keys",
            "revoke",
            &id,
            "--server",
            &server.base,
            "--token",
            ADMIN,
        ],
        &[],
    )
    .await;
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let shown: Value = serde_json::from_slice(&revoked.stdout).unwrap();
    assert!(shown["revoked_at"].is_string(), "{shown}");
    let (status, _, error) = post(&server, "/api/v1/tasks", &key, task("echo", "no")).await;
    assert_eq!(status, 401, "{error}");
    let (status, _, error) = call(
        &server,
        reqwest::Method::PATCH,
        &path,
        ADMIN,
        Some(json!({"rpm": 5})),
    )
    .await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (409, &json!("key_revoked"))
    );
    let (status, _, error) = call(
        &server,
        reqwest::Method::DELETE,
        "/api/v1/keys/key_none",
        ADMIN,
        None,
    )
    .await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (404, &json!("key_not_found"))
    );
}

/// Two API processes and a worker on one PostgreSQL.
async fn cluster(dir: &std::path::Path, db: &TestDatabase) -> (Server, Server, Server) {
    cluster_with(dir, db, &[]).await
}

/// `cluster`, the API processes started with `extra` flags too.
async fn cluster_with(
    dir: &std::path::Path,
    db: &TestDatabase,
    extra: &[&str],
) -> (Server, Server, Server) {
    let api = |dir, url| async move {
        let mut args = vec![
            "--role",
            "api",
            "--database-url",
            url,
            "--auth-token",
            ADMIN,
        ];
        args.extend_from_slice(extra);
        Server::start(dir, &args).await
    };
    let first = api(dir, &db.url).await;
    let second = api(dir, &db.url).await;
    let worker = Server::start_worker(
        dir,
        &[
            "--role",
            "worker",
            "--database-url",
            &db.url,
            "--workers",
            "16",
        ],
    )
    .await;
    (first, second, worker)
}

/// `llmhost keys ARGS` against `server`; its stdout.
async fn keys_cli(server: &Server, args: &[&str]) -> String {
    let mut all = vec!["keys"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--server", &server.base, "--token", ADMIN]);
    let out = run_llmhost(&all, &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn a_rotated_or_revoked_key_is_refused_at_once_on_every_process() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (first, second, _worker) = cluster(dir.path(), &db).await;
    let (id, old) = create_key(&first, json!({"name": "leaky", "rpm": 100})).await;
    let (status, _, body) = post(&second, "/v1/chat/completions", &old, chat("echo/echo")).await;
    assert_eq!(status, 200, "{body}");

    // Rotation: a new secret, the same key; the old secret is refused on
    // the very next request, on the other process too.
    let key = keys_cli(&first, &["rotate", &id]).await.trim().to_owned();
    assert!(key.starts_with("lhk_") && key != old, "{key}");
    for server in [&second, &first] {
        let (status, _, body) = post(server, "/v1/chat/completions", &old, chat("echo/echo")).await;
        assert_eq!(status, 401, "{body}");
    }
    let shown: Value = serde_json::from_str(&keys_cli(&second, &["get", &id]).await).unwrap();
    assert_eq!((&shown["id"], &shown["rpm"]), (&json!(id), &json!(100)));
    assert!(
        key.starts_with(shown["prefix"].as_str().unwrap()),
        "{shown}"
    );
    for server in [&first, &second] {
        let (status, _, body) = post(server, "/v1/chat/completions", &key, chat("echo/echo")).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _, _) = call(
        &first,
        reqwest::Method::DELETE,
        &format!("/api/v1/keys/{id}"),
        ADMIN,
        None,
    )
    .await;
    assert_eq!(status, 200);
    // Its usage is the same key's, before and after the rotation.
    let (_, _, usage) = get(
        &first,
        &format!("/api/v1/usage?group_by=key&key_id={id}"),
        ADMIN,
    )
    .await;
    assert_eq!(usage["totals"]["requests"], 3, "{usage}");
    // The very next request, on the other process too.
    for server in [&second, &first] {
        let (status, _, body) = post(server, "/v1/chat/completions", &key, chat("echo/echo")).await;
        assert_eq!(status, 401, "{body}");
        let (status, _, _) = post(server, "/api/v1/tasks", &key, task("echo", "no")).await;
        assert_eq!(status, 401);
    }
}

/// Exactly `limit` of a burst's requests were admitted; or, when the
/// database did not answer in time for some (a 503 `store_unavailable`
/// under load: such a request may or may not have been admitted), no
/// more than `limit`.
fn holds(answers: &[(u16, reqwest::header::HeaderMap)], limit: usize) {
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    let admitted = statuses.iter().filter(|s| (200..300).contains(*s)).count();
    if statuses.contains(&503) {
        assert!(admitted <= limit, "{statuses:?}");
    } else {
        assert_eq!(admitted, limit, "{statuses:?}");
    }
}

/// 50 clients at once, spread over both processes: what was admitted.
/// Each 429 of a burst carries `Retry-After` (within the minute) and the
/// limit's `x-ratelimit-*-<kind>` headers; each admitted answer its
/// remaining count. A 503 (the database not answering in time under the
/// burst) carries neither and is counted apart by the callers.
fn limited_answers_say_when_to_retry(
    answers: &[(u16, reqwest::header::HeaderMap)],
    kind: &str,
    limit: u32,
) {
    for (status, headers) in answers {
        match status {
            503 => {}
            429 => {
                let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=60).contains(&wait), "{wait}");
                assert_eq!(
                    headers[format!("x-ratelimit-limit-{kind}").as_str()],
                    limit.to_string().as_str()
                );
                assert_eq!(
                    headers[format!("x-ratelimit-remaining-{kind}").as_str()],
                    "0"
                );
            }
            _ => {
                assert!((200..300).contains(status), "{status}");
                assert!(headers.contains_key(format!("x-ratelimit-remaining-{kind}").as_str()));
            }
        }
    }
}

async fn burst(
    servers: [&Server; 2],
    key: &str,
    model: &str,
    clients: usize,
) -> Vec<(u16, reqwest::header::HeaderMap)> {
    let requests = (0..clients).map(|i| {
        let server = servers[i % 2];
        let body = if i % 3 == 0 {
            chat(&format!("echo/{model}"))
        } else {
            task(model, "load")
        };
        let path = if i % 3 == 0 {
            "/v1/chat/completions"
        } else {
            "/api/v1/tasks"
        };
        async move {
            let (status, headers, body) = post(server, path, key, body).await;
            // A loaded machine may keep the database from answering in
            // time: a 503 that says so, which the tests count apart.
            let unavailable = status == 503 && body["error"]["code"] == "store_unavailable";
            assert!(
                (200..300).contains(&status) || status == 429 || unavailable,
                "{path}: {status} {body}"
            );
            (status, headers)
        }
    });
    futures::future::join_all(requests).await
}

#[tokio::test]
async fn rpm_and_in_flight_limits_hold_across_two_processes_under_50_clients() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (first, second, _worker) = cluster(dir.path(), &db).await;

    // rpm: exactly the limit admitted within one minute, whichever process.
    let (_, rpm_key) = create_key(&first, json!({"name": "rpm", "rpm": 20})).await;
    let minute = || llmhost_store::now_ms() / 60_000;
    let before = minute();
    let answers = burst([&first, &second], &rpm_key, "echo", 50).await;
    // A burst that straddled a minute boundary counts in two minutes.
    let same_minute = minute() == before;
    let admitted = answers
        .iter()
        .filter(|(s, _)| (200..300).contains(s))
        .count();
    if same_minute {
        holds(&answers, 20);
    } else {
        assert!(admitted <= 40, "{admitted} over two minutes");
    }
    limited_answers_say_when_to_retry(&answers, "requests", 20);

    // In flight: slow tasks and calls hold their places, longer than the
    // burst takes on a loaded machine (one that finished would rightly let
    // another in).
    let (_, parallel_key) =
        create_key(&first, json!({"name": "parallel", "max_parallel": 5})).await;
    let answers = burst([&first, &second], &parallel_key, "echo-slow:15000", 50).await;
    holds(&answers, 5);
    assert!(
        answers
            .iter()
            .all(|(s, h)| *s != 429 || h.contains_key("retry-after"))
    );
    // Once they finished, the key is admitted again.
    let start = std::time::Instant::now();
    loop {
        let (status, _, _) = post(
            &second,
            "/api/v1/tasks",
            &parallel_key,
            task("echo", "later"),
        )
        .await;
        if status == 201 {
            break;
        }
        assert_eq!(status, 429);
        assert!(start.elapsed() < PATIENCE, "the key never opened again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn tpm_holds_across_two_processes_under_50_clients_with_requests_in_flight() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // A request without max_tokens reserves 4 for its answer: each of the
    // burst's reserves 9 (1 for its 2 to 4 bytes of text, 4 for its one
    // message, 4 for its answer) and uses 2 (one word in, one out).
    let (first, second, _worker) =
        cluster_with(dir.path(), &db, &["--reserve-output-tokens", "4"]).await;
    let (_, key) = create_key(&first, json!({"name": "tpm", "tpm": 60})).await;
    let minute = || llmhost_store::now_ms() / 60_000;
    let before = minute();
    // Slow answers: none finishes during the burst, so only the
    // reservations can hold the limit (without them all 50 get in).
    let answers = burst([&first, &second], &key, "echo-slow:3000", 50).await;
    let same_minute = minute() == before;
    let admitted = answers
        .iter()
        .filter(|(s, _)| (200..300).contains(s))
        .count();
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    // A request the database did not answer in time for may or may not
    // have been admitted: then the limit must still hold, not be reached.
    let exact = !statuses.contains(&503);
    if same_minute {
        // Admitted while the minute's 0, 9, …, 54 tokens were under 60:
        // seven, the last one over the limit by itself alone.
        if exact {
            assert_eq!(admitted, 7, "{statuses:?}");
        } else {
            assert!(admitted <= 7, "{statuses:?}");
        }
    } else {
        assert!(admitted <= 14, "{admitted} over two minutes: {statuses:?}");
    }
    limited_answers_say_when_to_retry(&answers, "tokens", 60);
    // Once they finished, their reservations are given back and only
    // what they used counts: 2 each, in the minute they were admitted in.
    let start = std::time::Instant::now();
    for status in ["pending", "running"] {
        loop {
            let (_, _, page) = get(&first, &format!("/api/v1/tasks?status={status}"), ADMIN).await;
            if page["tasks"].as_array().is_some_and(Vec::is_empty) {
                break;
            }
            assert!(start.elapsed() < PATIENCE, "tasks still {status}: {page}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    loop {
        let (status, headers, body) =
            post(&second, "/v1/chat/completions", &key, chat("echo/echo")).await;
        if status == 200 {
            if minute() == before && exact {
                let remaining: i64 = headers["x-ratelimit-remaining-tokens"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(remaining, 60 - 2 * admitted as i64 - 9, "{body}");
            }
            break;
        }
        assert_eq!(status, 429, "{body}");
        assert!(start.elapsed() < PATIENCE, "the key never opened again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A configuration file with a known price for every echo model: $1000
/// per million tokens, a tenth of a cent per word in and out.
fn priced_config(dir: &std::path::Path) -> String {
    let file = dir.join("llmhost.toml");
    std::fs::write(
        &file,
        "[prices.\"echo/*\"]\ninput_per_mtok = 1000.0\noutput_per_mtok = 1000.0\n",
    )
    .unwrap();
    file.display().to_string()
}

#[tokio::test]
async fn a_budget_stops_its_key_after_the_request_that_crossed_it_until_the_period_ends() {
    let dir = tempfile::tempdir().unwrap();
    let config = priced_config(dir.path());
    let server = Server::start(dir.path(), &["--auth-token", ADMIN, "--config", &config]).await;
    let (_, key) = create_key(
        &server,
        json!({"name": "thrifty", "budget_usd": 0.01, "budget_period": "4s"}),
    )
    .await;
    // 3 words in, 3 out: $0.006 a request.
    let ask = || json!({"model": "echo/echo", "messages": [{"role": "user", "content": "one two three"}]});
    let (status, _, first) = post(&server, "/v1/chat/completions", &key, ask()).await;
    assert_eq!(status, 200, "{first}");
    let (status, _, second) = post(&server, "/v1/chat/completions", &key, ask()).await;
    assert_eq!(status, 200, "under the budget when it started: {second}");
    let (status, headers, refused) = post(&server, "/v1/chat/completions", &key, ask()).await;
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["error"]["code"], "budget_exceeded");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("$0.012 of its $0.01 budget"), "{message}");
    assert!(headers.contains_key("retry-after"));
    let (status, _, refused) = post(&server, "/api/v1/tasks", &key, task("echo", "x")).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (429, &json!("budget_exceeded"))
    );

    // The next period opens the key again.
    let start = std::time::Instant::now();
    loop {
        let (status, _, body) = post(&server, "/v1/chat/completions", &key, ask()).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 429, "{body}");
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "the period never reset"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, _, usage) = get(&server, "/api/v1/usage?group_by=key", &key).await;
    assert_eq!(usage["totals"]["requests"], 3, "{usage}");
    assert_eq!(usage["totals"]["cost_usd"], 0.018, "{usage}");
}

#[tokio::test]
async fn usage_totals_equal_the_attempts_recorded_after_a_worker_is_killed_mid_run() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = priced_config(dir.path());
    let api = Server::start(
        dir.path(),
        // Authentication off: the harness's reads are an admin's, the key
        // still a tenant's.
        &[
            "--role",
            "api",
            "--database-url",
            &db.url,
            "--config",
            &config,
        ],
    )
    .await;
    let worker_args = [
        "--role",
        "worker",
        "--database-url",
        &db.url,
        "--lease-ms",
        "1000",
        "--workers",
        "4",
        "--config",
        &config,
    ];
    let doomed = Server::start_worker(dir.path(), &worker_args).await;
    let (key_id, key) = create_key(&api, json!({"name": "metered"})).await;
    let mut victims = Vec::new();
    for i in 0..4 {
        let body = task("echo-slow:3000", &format!("victim number {i}"));
        let (status, _, task) = post(&api, "/api/v1/tasks", &key, body).await;
        assert_eq!(status, 201, "{task}");
        victims.push(task["task_id"].as_str().unwrap().to_owned());
    }
    for id in &victims {
        api.wait_for(id, "running", |t| t["status"] == "running")
            .await;
    }
    let _survivor = Server::start_worker(dir.path(), &worker_args).await;
    doomed.kill().await;
    let mut others = Vec::new();
    for i in 0..6 {
        let (_, _, task) = post(
            &api,
            "/api/v1/tasks",
            &key,
            task("echo", &format!("other {i}")),
        )
        .await;
        others.push(task["task_id"].as_str().unwrap().to_owned());
    }
    let (mut input, mut output, mut cost_nanousd, mut attempts) = (0, 0, 0i64, 0);
    for id in victims.iter().chain(&others) {
        let task = api.wait_until_finished(id).await;
        assert_eq!(task["status"], "completed", "{task}");
        attempts += task["attempts"].as_i64().unwrap();
        let usage = &task["result"]["usage"];
        input += usage["input_tokens"].as_i64().unwrap();
        output += usage["output_tokens"].as_i64().unwrap();
        cost_nanousd += (usage["cost_usd"].as_f64().unwrap() * 1e9).round() as i64;
    }
    let (status, _, usage) = get(&api, &format!("/api/v1/usage?key_id={key_id}"), ADMIN).await;
    assert_eq!(status, 200, "{usage}");
    let totals = &usage["totals"];
    // One record per attempt: the killed ones as interrupted, without
    // tokens or cost, their re-runs with theirs, once each.
    assert!(attempts >= 14, "each victim ran twice: {attempts}");
    assert_eq!(totals["requests"], attempts, "{usage}");
    assert_eq!(
        (
            totals["input_tokens"].as_i64(),
            totals["output_tokens"].as_i64()
        ),
        (Some(input), Some(output))
    );
    assert_eq!(
        (totals["cost_usd"].as_f64().unwrap() * 1e9).round() as i64,
        cost_nanousd
    );
    let csv = api
        .http
        .get(api.url("/api/v1/usage?group_by=key&format=csv"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = csv.lines().nth(1).expect("one group");
    assert!(
        line.starts_with(&format!("{key_id},metered,,,,{attempts},{input},{output},")),
        "{csv}"
    );
    let (_, _, by_outcome) = get(
        &api,
        &format!("/api/v1/usage?group_by=outcome&key_id={key_id}"),
        ADMIN,
    )
    .await;
    let groups = by_outcome["groups"].as_array().unwrap();
    let interrupted = groups
        .iter()
        .find(|g| g["outcome"] == "interrupted")
        .expect("the killed attempts");
    assert_eq!(interrupted["requests"], attempts - 10, "{by_outcome}");
    assert_eq!(
        (&interrupted["input_tokens"], &interrupted["cost_usd"]),
        (&json!(0), &json!(0.0)),
        "{by_outcome}"
    );
    let metrics = api
        .http
        .get(api.url("/metrics"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("llmhost_usage_requests{{key=\"{key_id}\",");
    let requests: i64 = metrics
        .lines()
        .filter(|l| l.starts_with(&series))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(requests, attempts, "{metrics}");
}

#[tokio::test]
async fn tpm_counts_the_tokens_each_answer_used_in_the_keys_minute() {
    let dir = tempfile::tempdir().unwrap();
    // Authentication off (the harness reads as an admin); the key is
    // still a tenant's.
    let server = Server::start(dir.path(), &[]).await;
    let (_, key) = create_key(&server, json!({"name": "wordy", "tpm": 30})).await;
    // 3 words in and 3 out: 6 tokens a request, on /v1 and as a task. A
    // request reserves 11 while it runs: 4 for its 13 bytes of text, 4 for
    // its message, and its max_tokens.
    let ask = json!({"model": "echo/echo", "max_tokens": 3,
        "messages": [{"role": "user", "content": "one two three"}]});
    let minute = || llmhost_store::now_ms() / 60_000;
    let before = minute();
    let (status, _, task) = post(
        &server,
        "/api/v1/tasks",
        &key,
        task("echo", "one two three"),
    )
    .await;
    assert_eq!(status, 201, "{task}");
    server
        .wait_until_finished(task["task_id"].as_str().unwrap())
        .await;
    let mut remaining = Vec::new();
    for _ in 0..4 {
        let (status, headers, body) =
            post(&server, "/v1/chat/completions", &key, ask.clone()).await;
        assert_eq!(status, 200, "{body}");
        remaining.push(
            headers["x-ratelimit-remaining-tokens"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (status, headers, refused) = post(&server, "/v1/chat/completions", &key, ask.clone()).await;
    if minute() != before {
        // A new minute began: its tokens count anew.
        return;
    }
    // Admitted while the minute's tokens were under 30 (6, 12, 18, 24
    // used), each leaving 30 less those and its own reservation.
    assert_eq!(remaining, ["13", "7", "1", "0"]);
    assert_eq!(status, 429, "30 tokens used: {refused}");
    assert_eq!(refused["error"]["code"], "rate_limit_exceeded");
    assert_eq!(
        refused["error"]["type"], "rate_limit_error",
        "OpenAI's shape"
    );
    assert_eq!(headers["x-ratelimit-limit-tokens"], "30");
    assert_eq!(headers["x-ratelimit-remaining-tokens"], "0");
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn every_attempt_and_every_target_called_is_in_the_usage_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("llmhost.toml");
    std::fs::write(
        &file,
        "[prices.\"echo/*\"]\ninput_per_mtok = 1000.0\noutput_per_mtok = 1000.0\n\n\
         [routes.flaky]\nstrategy = \"fallback\"\n\
         targets = [{ model = \"echo/echo-error:upstream_unavailable\" }, { model = \"echo/echo\" }]\n",
    )
    .unwrap();
    let config = file.display().to_string();
    // Authentication off: the harness reads as an admin; the key is still
    // a tenant's.
    let server = Server::start(dir.path(), &["--config", &config, "--max-attempts", "2"]).await;
    let (key_id, key) = create_key(&server, json!({"name": "unlucky"})).await;
    // A task that fails twice (retried once): two attempts.
    let (status, _, task) = post(
        &server,
        "/api/v1/tasks",
        &key,
        task("echo-error:rate_limited", "one two"),
    )
    .await;
    assert_eq!(status, 201, "{task}");
    let done = server
        .wait_until_finished(task["task_id"].as_str().unwrap())
        .await;
    assert_eq!(
        (&done["status"], &done["attempts"]),
        (&json!("failed"), &json!(2)),
        "{done}"
    );
    // A failed /v1 call, and a routed one whose first target failed.
    let (status, _, body) = post(
        &server,
        "/v1/chat/completions",
        &key,
        chat("echo/echo-error:upstream_unavailable"),
    )
    .await;
    assert!(status >= 500, "{status} {body}");
    let (status, _, body) = post(&server, "/v1/chat/completions", &key, chat("flaky")).await;
    assert_eq!(status, 200, "{body}");
    // A task over the route: it keeps its route, moves on past the failing
    // target, and its attempt is the answering target's.
    let (status, _, routed) = post(
        &server,
        "/api/v1/tasks",
        &key,
        json!({"model": "flaky", "prompt": "hi"}),
    )
    .await;
    assert_eq!(status, 201, "{routed}");
    let routed = server
        .wait_until_finished(routed["task_id"].as_str().unwrap())
        .await;
    assert_eq!(routed["status"], "completed", "{routed}");
    assert_eq!(routed["route"], "flaky", "{routed}");

    let (_, _, usage) = get(
        &server,
        &format!("/api/v1/usage?group_by=model,outcome&key_id={key_id}"),
        ADMIN,
    )
    .await;
    let row = |model: &str, outcome: &str| {
        usage["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["model"] == model && g["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {model} {outcome}: {usage}"))
            .clone()
    };
    let failed = row("echo-error:rate_limited", "rate_limited");
    assert_eq!(
        (
            &failed["requests"],
            &failed["input_tokens"],
            &failed["cost_usd"]
        ),
        (&json!(2), &json!(0), &json!(0.0)),
        "{usage}"
    );
    assert!(failed["latency_ms"].as_i64().unwrap() >= 0);
    let unavailable = row("echo-error:upstream_unavailable", "upstream_unavailable");
    assert_eq!(
        unavailable["requests"], 2,
        "the direct call and the /v1 route's first target"
    );
    assert_eq!(unavailable["output_tokens"], 0);
    let answered = row("echo", "ok");
    assert_eq!(
        (
            &answered["requests"],
            &answered["input_tokens"],
            &answered["output_tokens"]
        ),
        (&json!(2), &json!(2), &json!(2)),
        "{usage}"
    );
    assert_eq!(answered["cost_usd"], 0.004, "4 tokens at $1000 a million");
    assert!(
        usage["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["model"] != "flaky"),
        "{usage}"
    );
    assert_eq!(usage["totals"]["requests"], 6, "{usage}");
}

/// A `/v1` call made without a key is recorded just after its answer,
/// sharing a commit with the calls of the next `--usage-write-delay-ms`:
/// the ledger its client reads next already has it, and a graceful stop
/// writes what is still queued (here the delay is a minute, so nothing is
/// written by the delay running out).
#[tokio::test]
async fn keyless_usage_is_in_the_ledger_read_after_the_answer_and_written_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--usage-write-delay-ms", "60000"];
    async fn requests(server: &Server) -> i64 {
        let (status, usage) = server.get_json("/api/v1/usage?group_by=provider").await;
        assert_eq!(status, 200, "{usage}");
        assert_eq!(usage["groups"].as_array().map(Vec::len), Some(1), "{usage}");
        assert_eq!(usage["groups"][0]["provider"], "echo", "{usage}");
        usage["groups"][0]["requests"].as_i64().unwrap()
    }
    async fn chat_keyless(server: &Server) {
        let response = server
            .http
            .post(server.url("/v1/chat/completions"))
            .json(&chat("echo/echo"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    let server = Server::start(dir.path(), &args).await;
    for _ in 0..3 {
        chat_keyless(&server).await;
    }
    assert_eq!(requests(&server).await, 3);
    for _ in 0..2 {
        chat_keyless(&server).await;
    }
    assert!(server.terminate().await.success());

    let server = Server::start(dir.path(), &args).await;
    assert_eq!(requests(&server).await, 5);
}
