//! Chat Completions error answers (and error objects mid-stream) as the
//! contract's typed errors.

use llmhost_plugin_sdk::errors;
use llmhost_plugin_sdk::http::Response;
use llmhost_plugin_sdk::types::ProviderError;
use serde_json::Value;

use crate::wire::VENDOR;

/// An answer that is not 2xx.
pub fn error(response: &Response) -> ProviderError {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    classify(
        response.status,
        &format!("HTTP {}", response.status),
        &body,
        &response.body,
        errors::retry_after_ms(response),
    )
}

/// `{"error": {"message", "type", "code"}}` from OpenAI; compatible servers
/// also answer a flat `{"message", "type", "code"}` or `{"error": "text"}`.
/// `raw` is the body as sent, for messages when it is not that JSON;
/// `label` says where the error came from (`HTTP 400`).
pub fn classify(
    status: u16,
    label: &str,
    body: &Value,
    raw: &[u8],
    retry_after: Option<u64>,
) -> ProviderError {
    let object = match body.get("error") {
        Some(e @ Value::Object(_)) => e,
        _ => body,
    };
    let field = |name: &str| {
        object
            .get(name)
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .unwrap_or_default()
    };
    let (code, kind) = (field("code"), field("type"));
    let text = match (field("message"), body.get("error")) {
        (m, _) if !m.is_empty() => m,
        (_, Some(Value::String(s))) => s.clone(),
        _ => String::from_utf8_lossy(raw).into_owned(),
    };
    let message = errors::error_message(VENDOR, label, &code, &text);
    let lower = text.to_ascii_lowercase();
    let context = code == "context_length_exceeded"
        || lower.contains("maximum context length")
        || lower.contains("context length")
        || lower.contains("context window");
    let filtered = matches!(code.as_str(), "content_filter" | "content_policy_violation")
        || kind == "content_filter";
    match status {
        400 | 413 | 422 if context => ProviderError::ContextLengthExceeded(message),
        400..=499 if filtered => ProviderError::ContentFiltered(message),
        _ => errors::by_status(status, message, retry_after),
    }
}
