//! Ollama's error answers (and `{"error": …}` in a 2xx answer or a line of
//! a stream) as the contract's typed errors.

use llmhost_plugin_sdk::errors;
use llmhost_plugin_sdk::http::Response;
use llmhost_plugin_sdk::types::ProviderError;
use serde_json::Value;

use crate::wire::VENDOR;

/// `{"error": …}` in a 2xx answer or a line of a stream: the server failed
/// while answering.
pub fn answered_error(text: &str) -> ProviderError {
    ProviderError::UpstreamError(format!("{VENDOR}: {}", errors::bounded(text)))
}

/// `{"error": "model \"x\" not found, try pulling it first"}`.
pub fn error(response: &Response) -> ProviderError {
    let status = response.status;
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let text = body
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&response.body).into_owned());
    let message = format!("{VENDOR}: HTTP {status}: {}", errors::bounded(&text));
    let lower = text.to_ascii_lowercase();
    match status {
        400..=499 if lower.contains("context length") || lower.contains("context window") => {
            ProviderError::ContextLengthExceeded(message)
        }
        // Ollama answers an unknown model with 404, or 500 on some versions.
        _ if lower.contains("not found") && lower.contains("model") => {
            ProviderError::ModelNotFound(message)
        }
        _ => errors::by_status(status, message, errors::retry_after_ms(response)),
    }
}
