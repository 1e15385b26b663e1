//! The Messages API wire format: the request body, the response, and the
//! mapping of error answers to the contract's typed errors.

use llmhost_plugin_sdk::http::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use llmhost_plugin_sdk::errors;
use llmhost_plugin_sdk::shared;
use llmhost_plugin_sdk::types::{Completion, ProviderError, Request, Role};

pub const VENDOR: &str = "anthropic";
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// System messages go to the top-level `system`; tool output (which the
/// contract gives without a tool_use id) goes as a user turn.
pub fn request_body(request: &Request, default_max_tokens: u32, stream: bool) -> Vec<u8> {
    let system: Vec<&str> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let messages = shared::chat_messages(&request.messages, |role| match role {
        Role::System => None,
        Role::Assistant => Some("assistant"),
        Role::User | Role::Tool => Some("user"),
    });
    let params = &request.params;
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert(
        "max_tokens".into(),
        json!(params.max_tokens.unwrap_or(default_max_tokens)),
    );
    body.insert("messages".into(), messages);
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    if let Some(t) = params.temperature {
        body.insert("temperature".into(), shared::float(t));
    }
    if let Some(p) = params.top_p {
        body.insert("top_p".into(), shared::float(p));
    }
    if !params.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(params.stop));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    serde_json::to_vec(&Value::Object(body)).expect("JSON")
}

#[derive(Deserialize)]
struct Message {
    model: Option<String>,
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: Option<MessageUsage>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize)]
struct MessageUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

/// A whole 2xx answer.
pub fn parse_response(model: &str, body: &[u8]) -> Result<Completion, ProviderError> {
    let parsed: Message =
        serde_json::from_slice(body).map_err(|e| errors::malformed(VENDOR, e, body))?;
    let text: String = parsed
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text.as_deref())
        .collect();
    Ok(Completion {
        text,
        finish_reason: shared::finish_reason(parsed.stop_reason.as_deref()),
        usage: parsed
            .usage
            .and_then(|u| shared::usage(u.input_tokens, u.output_tokens)),
        model: parsed
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| model.to_owned()),
    })
}

/// An answer that is not 2xx.
pub fn error(response: &Response) -> ProviderError {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    classify(
        Some(response.status),
        &body,
        &response.body,
        errors::retry_after_ms(response),
    )
}

/// `{"type": "error", "error": {"type", "message"}, "request_id"}`, the body
/// of an error answer (with its HTTP status) and of an `error` event in a
/// stream (without one). `raw` is the body as sent, for messages when it is
/// not that JSON.
pub fn classify(
    status: Option<u16>,
    body: &Value,
    raw: &[u8],
    retry_after: Option<u64>,
) -> ProviderError {
    let field = |name: &str| {
        body.get("error")
            .and_then(|e| e.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let kind = field("type").unwrap_or_default();
    let text = field("message").unwrap_or_else(|| String::from_utf8_lossy(raw).into_owned());
    let place = match status {
        Some(status) => format!("HTTP {status}"),
        None => "error mid-stream".to_owned(),
    };
    let message = errors::error_message(VENDOR, &place, &kind, &text);
    let lower = text.to_ascii_lowercase();
    let context = lower.contains("prompt is too long")
        || lower.contains("context window")
        || lower.contains("context length");
    match kind.as_str() {
        "invalid_request_error" if context => ProviderError::ContextLengthExceeded(message),
        "authentication_error" => ProviderError::Authentication(message),
        "permission_error" => ProviderError::PermissionDenied(message),
        "not_found_error" => ProviderError::ModelNotFound(message),
        "rate_limit_error" => errors::by_status(429, message, retry_after),
        "overloaded_error" => ProviderError::UpstreamUnavailable(message),
        "api_error" => ProviderError::UpstreamError(message),
        "timeout_error" => ProviderError::Timeout(message),
        // A stream's error of an unknown kind is the upstream failing.
        _ => errors::by_status(status.unwrap_or(500), message, retry_after),
    }
}
