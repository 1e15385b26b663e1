//! `GET /api/v1/tasks/{task_id}/events`: a task's life as Server-Sent Events.

use serde_json::{Value, json};

use crate::harness::{Server, echo};

/// Reads the whole stream (it ends after the final event): `(event, data)`.
pub(crate) async fn events(server: &Server, id: &str) -> Vec<(String, Value)> {
    let response = server
        .http
        .get(server.url(&format!("/api/v1/tasks/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    let mut out = Vec::new();
    let mut name = String::new();
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("event: ") {
            name = n.to_owned();
        } else if let Some(data) = line.strip_prefix("data: ") {
            out.push((
                std::mem::take(&mut name),
                serde_json::from_str(data).unwrap(),
            ));
        }
    }
    out
}

#[tokio::test]
async fn a_live_task_streams_its_status_changes_and_then_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let body = json!({"provider": "echo", "model": "echo-slow:400", "prompt": "followed"});
    let id = server.submit(&body).await;
    let seen = events(&server, &id).await;
    let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.last(), Some(&"result"), "{seen:?}");
    assert_eq!(seen.last().unwrap().1["text"], "followed");
    let statuses: Vec<&str> = seen
        .iter()
        .filter(|(n, _)| n == "status")
        .map(|(_, d)| d["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"running"), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&"completed"));
    // The final result equals what the task API reports.
    assert_eq!(
        server.task(&id).await["result"]["text"],
        seen.last().unwrap().1["text"]
    );
}

#[tokio::test]
async fn a_finished_task_replays_its_final_events_and_failures_end_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let done = server.submit(&echo("already done")).await;
    server.wait_until_finished(&done).await;
    let seen = events(&server, &done).await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        (seen[0].0.as_str(), seen[0].1["status"].as_str()),
        ("status", Some("completed"))
    );
    // The replay's deltas hold the whole text, as a live stream's would.
    assert_eq!(
        (seen[1].0.as_str(), seen[1].1["text"].as_str()),
        ("delta", Some("already done"))
    );
    assert_eq!(
        (seen[2].0.as_str(), seen[2].1["text"].as_str()),
        ("result", Some("already done"))
    );

    let failing = json!({"provider": "missing", "model": "m", "prompt": "x"});
    let failed = server.submit(&failing).await;
    let seen = events(&server, &failed).await;
    let (name, data) = seen.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error_code"], "provider_not_found");

    let (status, body) = server.get_json("/api/v1/tasks/nope/events").await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn a_client_that_disconnects_does_not_affect_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let body = json!({"provider": "echo", "model": "echo-slow:300", "prompt": "unbothered"});
    let id = server.submit(&body).await;
    let response = server
        .http
        .get(server.url(&format!("/api/v1/tasks/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    drop(response);
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["status"], "completed");
    assert_eq!(task["result"]["text"], "unbothered");
}

#[tokio::test]
async fn a_streaming_task_sends_token_deltas_that_add_up_to_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    // Five words, 200 ms apart: stored in several batches while it runs.
    let prompt = "one two  three\tfour fünf";
    let body = json!({"provider": "echo", "model": "echo-drip:200", "prompt": prompt});
    let id = server.submit(&body).await;
    let seen = events(&server, &id).await;
    let deltas: Vec<&Value> = seen
        .iter()
        .filter(|(n, _)| n == "delta")
        .map(|(_, d)| d)
        .collect();
    let text: String = deltas.iter().map(|d| d["text"].as_str().unwrap()).collect();
    let (last, result) = seen.last().unwrap();
    assert_eq!(last, "result", "{seen:?}");
    assert_eq!(result["text"], prompt);
    assert_eq!(text, prompt, "{seen:?}");
    // More than the one remainder a finished task would send: the text
    // arrived while the task ran.
    assert!(deltas.len() >= 2, "{seen:?}");
    assert!(deltas.iter().all(|d| d["attempt"] == 1), "{deltas:?}");
    let first_delta = seen.iter().position(|(n, _)| n == "delta").unwrap();
    let completed = seen
        .iter()
        .position(|(n, d)| n == "status" && d["status"] == "completed")
        .unwrap();
    assert!(first_delta < completed, "{seen:?}");
}

/// A task whose answer calls tools: each call is one `tool_call` event,
/// whole and in order, after the text and before the `result` that holds
/// them too (live and replayed alike).
#[tokio::test]
async fn a_task_that_calls_tools_sends_each_call_before_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let tool = json!({"name": "get_weather", "parameters": {"type": "object",
                      "properties": {"city": {"type": "string"}}}});
    let id = server
        .submit(
            &json!({"provider": "echo", "model": "echo-tools", "prompt": "Oslo",
                        "tools": [tool]}),
        )
        .await;
    for seen in [events(&server, &id).await, events(&server, &id).await] {
        let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
        let calls: Vec<&Value> = seen
            .iter()
            .filter(|(n, _)| n == "tool_call")
            .map(|(_, d)| d)
            .collect();
        assert_eq!(calls.len(), 1, "{seen:?}");
        assert_eq!(
            (
                &calls[0]["index"],
                &calls[0]["id"],
                &calls[0]["name"],
                &calls[0]["arguments"]
            ),
            (
                &json!(0),
                &json!("call_echo_0"),
                &json!("get_weather"),
                &json!("{\"city\":\"Oslo\"}")
            ),
            "{seen:?}"
        );
        assert_eq!(
            &names[names.len() - 2..],
            ["tool_call", "result"],
            "{seen:?}"
        );
        assert_eq!(
            seen.last().unwrap().1["tool_calls"][0]["id"],
            "call_echo_0",
            "{seen:?}"
        );
    }
}

/// What the attempt streams besides text reaches watchers while it runs:
/// `reasoning_delta` and `tool_call_delta` events (OpenAI's pieces: the id
/// and name first, then argument fragments) that add up to the result's
/// reasoning and calls, live and in a replay, with the whole calls after.
#[tokio::test]
async fn a_streaming_task_sends_reasoning_and_tool_call_pieces_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let tool = json!({"name": "lookup", "parameters": {"type": "object",
                      "properties": {"query": {"type": "string"}}}});
    // One piece every 150 ms: stored in several batches while it runs.
    let prompt = "the tallest mountains of northern Norway";
    let id = server
        .submit(
            &json!({"provider": "echo", "model": "echo-agent-drip", "prompt": prompt,
                        "tools": [tool]}),
        )
        .await;
    let live = events(&server, &id).await;
    let replay = events(&server, &id).await;
    let result = server.task(&id).await["result"].clone();
    let reasoning = result["reasoning"].as_str().unwrap();
    let call = &result["tool_calls"][0];
    assert_eq!(call["name"], "lookup", "{result}");
    for seen in [&live, &replay] {
        let of = |name: &str| -> Vec<&Value> {
            seen.iter()
                .filter(|(n, _)| n == name)
                .map(|(_, d)| d)
                .collect()
        };
        let thought: String = of("reasoning_delta")
            .iter()
            .map(|d| d["text"].as_str().unwrap())
            .collect();
        assert_eq!(thought, reasoning, "{seen:?}");
        let pieces = of("tool_call_delta");
        assert!(pieces.iter().all(|p| p["index"] == 0 && p["attempt"] == 1));
        assert_eq!(
            (&pieces[0]["id"], &pieces[0]["name"]),
            (&call["id"], &call["name"]),
            "the first piece names the call: {seen:?}"
        );
        assert!(
            pieces[1..].iter().all(|p| p.get("id").is_none()),
            "{seen:?}"
        );
        let arguments: String = pieces
            .iter()
            .map(|p| p["arguments"].as_str().unwrap())
            .collect();
        assert_eq!(arguments, call["arguments"].as_str().unwrap(), "{seen:?}");
        let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            &names[names.len() - 2..],
            ["tool_call", "result"],
            "{seen:?}"
        );
    }
    // Live, the pieces came while the task ran: before its final status.
    let position = |name: &str| live.iter().position(|(n, _)| n == name).unwrap();
    let completed = live
        .iter()
        .position(|(n, d)| n == "status" && d["status"] == "completed")
        .unwrap();
    assert!(position("reasoning_delta") < completed, "{live:?}");
    assert!(position("tool_call_delta") < completed, "{live:?}");
    // A replay sends each kind in one piece.
    let kinds: Vec<&str> = replay.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "status",
            "reasoning_delta",
            "tool_call_delta",
            "tool_call",
            "result"
        ],
        "{replay:?}"
    );
}
