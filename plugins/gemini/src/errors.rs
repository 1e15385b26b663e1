//! Gemini API error answers (google.rpc.Status, also as a stream's chunk)
//! as the contract's typed errors.

use llmhost_plugin_sdk::errors;
use llmhost_plugin_sdk::http::Response;
use llmhost_plugin_sdk::types::ProviderError;
use serde_json::Value;

use crate::wire::VENDOR;

/// An answer that is not 2xx.
pub fn error(response: &Response) -> ProviderError {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let label = format!("HTTP {}", response.status);
    let retry_after = errors::retry_after_ms(response);
    classify(response.status, &label, &body, &response.body, retry_after)
}

/// `{"error": {"code", "message", "status", "details": [...]}}`
/// (google.rpc.Status), as an error answer's body or a stream's chunk.
/// `raw` is the body as sent, for messages when it is not that JSON;
/// `label` says where the error came from (`HTTP 400`).
pub fn classify(
    status: u16,
    label: &str,
    body: &Value,
    raw: &[u8],
    retry_after: Option<u64>,
) -> ProviderError {
    let error = body.get("error");
    let field = |name: &str| {
        error
            .and_then(|e| e.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let rpc_status = field("status").unwrap_or_default();
    let text = field("message").unwrap_or_else(|| String::from_utf8_lossy(raw).into_owned());
    let details: &[Value] = error
        .and_then(|e| e.get("details"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let detail = |key: &str| {
        details
            .iter()
            .find_map(|d| d.get(key).and_then(Value::as_str))
    };
    let message = errors::error_message(VENDOR, label, &rpc_status, &text);
    let lower = text.to_ascii_lowercase();
    let context = lower.contains("exceeds the maximum number of tokens")
        || (lower.contains("token count") && lower.contains("exceeds"));
    let retry_after = retry_after.or_else(|| {
        detail("retryDelay")
            .and_then(|d| d.trim().strip_suffix('s')?.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| (s * 1000.0).ceil() as u64)
    });
    match (status, rpc_status.as_str()) {
        (400, _) if detail("reason") == Some("API_KEY_INVALID") => {
            ProviderError::Authentication(message)
        }
        (400, _) if context => ProviderError::ContextLengthExceeded(message),
        (_, "UNAUTHENTICATED") => ProviderError::Authentication(message),
        (_, "PERMISSION_DENIED") => ProviderError::PermissionDenied(message),
        (_, "RESOURCE_EXHAUSTED") => errors::by_status(429, message, retry_after),
        (_, "DEADLINE_EXCEEDED") => ProviderError::Timeout(message),
        (_, "UNAVAILABLE") => ProviderError::UpstreamUnavailable(message),
        _ => errors::by_status(status, message, retry_after),
    }
}
