//! Ollama's `/api/chat` wire format: the request body, the response, and
//! the mapping of error answers to the contract's typed errors.

use llmhost_plugin_sdk::http::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::common;
use crate::llmhost::provider::types::{Completion, FinishReason, ProviderError, Request, Role};

pub const VENDOR: &str = "ollama";

pub fn request_body(request: &Request) -> Vec<u8> {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
                Role::Tool => "tool",
            };
            json!({"role": role, "content": m.content})
        })
        .collect();
    let params = &request.params;
    let mut options = Map::new();
    if let Some(n) = params.max_tokens {
        options.insert("num_predict".into(), json!(n));
    }
    if let Some(t) = params.temperature {
        options.insert("temperature".into(), common::float(t));
    }
    if let Some(p) = params.top_p {
        options.insert("top_p".into(), common::float(p));
    }
    if !params.stop.is_empty() {
        options.insert("stop".into(), json!(params.stop));
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(false));
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    serde_json::to_vec(&Value::Object(body)).expect("JSON")
}

#[derive(Deserialize)]
struct ChatResponse {
    model: Option<String>,
    message: Option<ChatMessage>,
    done: Option<bool>,
    done_reason: Option<String>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ChatMessage {
    content: Option<String>,
    tool_calls: Option<Vec<Value>>,
}

pub fn parse_response(model: &str, response: &Response) -> Result<Completion, ProviderError> {
    if !(200..300).contains(&response.status) {
        return Err(error(response));
    }
    let parsed: ChatResponse = serde_json::from_slice(&response.body)
        .map_err(|e| common::malformed(VENDOR, e, &response.body))?;
    if let Some(err) = parsed.error {
        return Err(ProviderError::UpstreamError(format!(
            "{VENDOR}: {}",
            common::bounded(&err)
        )));
    }
    let message = parsed.message.ok_or_else(|| {
        ProviderError::UpstreamError(format!("{VENDOR}: the response has no message"))
    })?;
    let tool_calls = message.tool_calls.is_some_and(|c| !c.is_empty());
    let finish_reason = match parsed.done_reason.as_deref() {
        _ if tool_calls => FinishReason::ToolCalls,
        // "load" and "unload" answer no prompt; an unfinished answer is odd.
        Some(reason) => common::finish_reason(Some(reason)),
        None if parsed.done == Some(false) => FinishReason::Other,
        None => FinishReason::Stop,
    };
    Ok(Completion {
        text: message.content.unwrap_or_default(),
        finish_reason,
        // Ollama leaves prompt_eval_count out when the prompt was cached.
        usage: common::usage(
            parsed
                .eval_count
                .map(|_| parsed.prompt_eval_count.unwrap_or(0)),
            parsed.eval_count,
        ),
        model: parsed
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| model.to_owned()),
    })
}

/// `{"error": "model \"x\" not found, try pulling it first"}`.
fn error(response: &Response) -> ProviderError {
    let status = response.status;
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let text = body
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&response.body).into_owned());
    let message = format!("{VENDOR}: HTTP {status}: {}", common::bounded(&text));
    let lower = text.to_ascii_lowercase();
    match status {
        400..=499 if lower.contains("context length") || lower.contains("context window") => {
            ProviderError::ContextLengthExceeded(message)
        }
        // Ollama answers an unknown model with 404, or 500 on some versions.
        _ if lower.contains("not found") && lower.contains("model") => {
            ProviderError::ModelNotFound(message)
        }
        _ => common::by_status(status, message, common::retry_after_ms(response)),
    }
}
