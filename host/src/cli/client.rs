//! `llmhost submit`: a small REST client. Submits one task and, with
//! `--wait`, shows its progress on stderr and prints the answer on stdout.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

#[derive(Debug, clap::Args)]
pub(crate) struct SubmitArgs {
    /// The provider to run the task (a plugin name, e.g. `echo`).
    #[arg(long)]
    provider: String,
    /// The provider's model.
    #[arg(long)]
    model: String,
    /// The user message.
    #[arg(long)]
    prompt: String,
    /// Wait for the task to finish and print its answer.
    #[arg(long)]
    wait: bool,
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
    let body = json!({ "provider": args.provider, "model": args.model, "prompt": args.prompt });
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
    if !args.wait {
        println!("{}", serde_json::to_string_pretty(&task)?);
        return Ok(());
    }
    eprintln!("task {id}");
    let task = wait_for_finish(&http, base, &id).await?;
    match task["status"].as_str() {
        Some("completed") => {
            println!("{}", task["result"]["text"].as_str().unwrap_or_default());
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
        let shown = format!("{status} (attempt {})", task["attempts"]);
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

async fn read_json(response: reqwest::Response) -> anyhow::Result<Value> {
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
fn client(token: Option<&crate::secret::Secret>) -> anyhow::Result<reqwest::Client> {
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
