//! `llmhost submit`: a small REST client. Submits one task and, with
//! `--wait`, shows its progress on stderr (and why it waits: the last
//! attempt's error) and prints the answer on stdout; with `--stream`, the
//! text as the provider streams it, from the task's event stream.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

#[derive(Debug, clap::Args)]
pub(crate) struct SubmitArgs {
    /// The provider to run the task (a plugin name, e.g. `echo`); without
    /// it, `--model` is a route's alias.
    #[arg(long)]
    provider: Option<String>,
    /// The provider's model, or a route's alias.
    #[arg(long)]
    model: String,
    /// The user message.
    #[arg(long)]
    prompt: String,
    /// A system message, sent before the user message.
    #[arg(long)]
    system: Option<String>,
    /// The deadline of each attempt, in ms (the task's `timeout_ms`).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// How many attempts the task may make (the task's `max_attempts`).
    #[arg(long)]
    max_attempts: Option<u32>,
    /// Wait for the task to finish and print its answer.
    #[arg(long)]
    wait: bool,
    /// Print the answer's text as the provider streams it (implies
    /// `--wait`).
    #[arg(long)]
    stream: bool,
    /// The server's base URL.
    #[arg(long, env = "LLMHOST_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// A bearer token, when the server requires one.
    #[arg(long, env = "LLMHOST_TOKEN", hide_env_values = true)]
    token: Option<crate::secret::Secret>,
}

pub(crate) async fn submit(args: SubmitArgs) -> anyhow::Result<()> {
    let http = client(args.token.as_ref())?;
    let base = args.server.trim_end_matches('/');
    let body = task_body(&args);
    let task = read_json(
        http.post(format!("{base}/api/v1/tasks"))
            .json(&body)
            .send()
            .await?,
    )
    .await?;
    let id = task["task_id"]
        .as_str()
        .context("the server's answer has no task_id")?
        .to_owned();
    if !args.wait && !args.stream {
        println!("{}", serde_json::to_string_pretty(&task)?);
        return Ok(());
    }
    eprintln!("task {id}");
    let streamed = if args.stream {
        stream_text(&http, base, &id).await?
    } else {
        false
    };
    let task = wait_for_finish(&http, base, &id).await?;
    match task["status"].as_str() {
        Some("completed") => {
            if streamed {
                println!();
            } else {
                println!("{}", task["result"]["text"].as_str().unwrap_or_default());
            }
            Ok(())
        }
        status => anyhow::bail!(
            "task {id} {}: {} ({})",
            status.unwrap_or("?"),
            task["error_message"].as_str().unwrap_or(""),
            task["error_code"].as_str().unwrap_or("")
        ),
    }
}

/// Polls until the task is terminal, printing each status change.
async fn wait_for_finish(http: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<Value> {
    let mut last = String::new();
    loop {
        let task = read_json(http.get(format!("{base}/api/v1/tasks/{id}")).send().await?).await?;
        let status = task["status"].as_str().unwrap_or("?").to_owned();
        let shown = progress(&task);
        if shown != last {
            eprintln!("  {shown}");
            let _ = std::io::stderr().flush();
            last = shown;
        }
        if matches!(status.as_str(), "completed" | "failed" | "cancelled") {
            return Ok(task);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The request body for the flags given; what is not given is left to the
/// server's defaults.
fn task_body(args: &SubmitArgs) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": args.prompt}));
    let mut body = json!({ "model": args.model, "messages": messages });
    if let Some(provider) = &args.provider {
        body["provider"] = json!(provider);
    }
    if let Some(ms) = args.timeout_ms {
        body["timeout_ms"] = json!(ms);
    }
    if let Some(n) = args.max_attempts {
        body["max_attempts"] = json!(n);
    }
    body
}

/// One line of progress: the status and attempt, and, for a task waiting
/// for a retry, why (the last attempt's error) and when it goes on.
fn progress(task: &Value) -> String {
    let status = task["status"].as_str().unwrap_or("?");
    let mut shown = format!(
        "{status} (attempt {} of {})",
        task["attempts"], task["max_attempts"]
    );
    if status == "pending"
        && let Some(code) = task["error_code"].as_str()
    {
        let message = task["error_message"].as_str().unwrap_or("");
        shown.push_str(&format!(", retrying after {code}: {message}"));
        shown.push_str(&next_attempt(task));
    }
    shown
}

/// `; next attempt at <time> (in <s> s)` from a task's or a status
/// event's `next_attempt_at`; empty without one. The wait is counted on
/// this machine's clock.
fn next_attempt(task: &Value) -> String {
    let Some(at) = task["next_attempt_at"].as_str() else {
        return String::new();
    };
    let Ok(when) = chrono::DateTime::parse_from_rfc3339(at) else {
        return format!("; next attempt at {at}");
    };
    let when = when.with_timezone(&chrono::Utc);
    let shown = when.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let wait = (when - chrono::Utc::now()).num_milliseconds();
    if wait > 0 {
        format!(
            "; next attempt at {shown} (in {:.1} s)",
            wait as f64 / 1000.0
        )
    } else {
        format!("; next attempt at {shown} (due now)")
    }
}

/// Prints `delta` texts to stdout as they arrive, until the stream's final
/// event; whether any text was printed. A retry starts its text over, so a
/// new attempt's first delta starts a new line.
async fn stream_text(http: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<bool> {
    let mut response = http
        .get(format!("{base}/api/v1/tasks/{id}/events"))
        .send()
        .await?;
    if !response.status().is_success() {
        return read_json(response).await.map(|_| false);
    }
    let mut pending = String::new();
    let mut attempt = None;
    let mut printed = false;
    while let Some(chunk) = response.chunk().await? {
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            if let Some(status) = sse_data(&event, "status") {
                let mut shown = format!(
                    "{} (attempt {})",
                    status["status"].as_str().unwrap_or("?"),
                    status["attempts"]
                );
                if status["status"] == "pending"
                    && let Some(code) = status["error_code"].as_str()
                {
                    shown.push_str(&format!(", retrying after {code}"));
                    shown.push_str(&next_attempt(&status));
                }
                eprintln!("  {shown}");
                continue;
            }
            let Some(data) = sse_data(&event, "delta") else {
                continue;
            };
            if attempt.is_some() && attempt != Some(data["attempt"].clone()) {
                println!();
            }
            attempt = Some(data["attempt"].clone());
            print!("{}", data["text"].as_str().unwrap_or_default());
            let _ = std::io::stdout().flush();
            printed = true;
        }
    }
    Ok(printed)
}

/// The JSON data of an SSE event block, if it is an event named `name`.
fn sse_data(block: &str, name: &str) -> Option<Value> {
    let mut lines = block.lines();
    let named = lines.clone().any(|l| l == format!("event: {name}"));
    let data = lines.find_map(|l| l.strip_prefix("data: "))?;
    named.then(|| serde_json::from_str(data).ok()).flatten()
}

pub(super) async fn read_json(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .context("the server did not answer with JSON")?;
    if !status.is_success() {
        anyhow::bail!(
            "server answered {status}: {}",
            body["error"]["message"]
                .as_str()
                .unwrap_or(&body.to_string())
        );
    }
    Ok(body)
}

/// An HTTP client that sends the token, if any, with every request.
pub(super) fn client(token: Option<&crate::secret::Secret>) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let mut value =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .context("--token: must be visible ASCII characters")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .build()?)
}
