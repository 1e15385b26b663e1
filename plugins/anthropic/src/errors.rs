//! Messages API error answers (and `error` events mid-stream) as the
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
