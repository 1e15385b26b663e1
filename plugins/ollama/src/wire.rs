//! Ollama's `/api/chat` wire format: the request body, the response, and
//! the mapping of error answers to the contract's typed errors.

use llmhost_plugin_sdk::http::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use llmhost_plugin_sdk::errors;
use llmhost_plugin_sdk::shared;
use llmhost_plugin_sdk::types::{Completion, FinishReason, ProviderError, Request, Role, Usage};

pub const VENDOR: &str = "ollama";

pub fn request_body(request: &Request, stream: bool) -> Vec<u8> {
    let messages = shared::chat_messages(&request.messages, |role| {
        Some(match role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        })
    });
    let params = &request.params;
    let mut options = Map::new();
    if let Some(n) = params.max_tokens {
        options.insert("num_predict".into(), json!(n));
    }
    if let Some(t) = params.temperature {
        options.insert("temperature".into(), shared::float(t));
    }
    if let Some(p) = params.top_p {
        options.insert("top_p".into(), shared::float(p));
    }
    if !params.stop.is_empty() {
        options.insert("stop".into(), json!(params.stop));
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("messages".into(), messages);
    body.insert("stream".into(), json!(stream));
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    serde_json::to_vec(&Value::Object(body)).expect("JSON")
}

/// A whole answer, and each line of a streamed one (the text in pieces,
/// the counts and `done_reason` on the last, `done: true`).
#[derive(Deserialize)]
pub struct ChatResponse {
    pub model: Option<String>,
    pub message: Option<ChatMessage>,
    pub done: Option<bool>,
    pub done_reason: Option<String>,
    pub prompt_eval_count: Option<u64>,
    pub eval_count: Option<u64>,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct ChatMessage {
    pub content: Option<String>,
    pub tool_calls: Option<Vec<Value>>,
}

impl ChatMessage {
    pub fn calls_tools(&self) -> bool {
        self.tool_calls.as_ref().is_some_and(|c| !c.is_empty())
    }
}

impl ChatResponse {
    /// `tool_calls`: whether the answer called a tool (in a stream, any line).
    pub fn finish_reason(&self, tool_calls: bool) -> FinishReason {
        match self.done_reason.as_deref() {
            _ if tool_calls => FinishReason::ToolCalls,
            // "load" and "unload" answer no prompt; an unfinished answer is odd.
            Some(reason) => shared::finish_reason(Some(reason)),
            None if self.done == Some(false) => FinishReason::Other,
            None => FinishReason::Stop,
        }
    }

    pub fn usage(&self) -> Option<Usage> {
        // Ollama leaves prompt_eval_count out when the prompt was cached.
        shared::usage(
            self.eval_count.map(|_| self.prompt_eval_count.unwrap_or(0)),
            self.eval_count,
        )
    }

    /// The model that answered, or `asked` when the answer does not say.
    pub fn model(&self, asked: &str) -> String {
        self.model
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| asked.to_owned())
    }
}

/// A whole 2xx answer.
pub fn parse_response(model: &str, body: &[u8]) -> Result<Completion, ProviderError> {
    let parsed: ChatResponse =
        serde_json::from_slice(body).map_err(|e| errors::malformed(VENDOR, e, body))?;
    if let Some(err) = &parsed.error {
        return Err(answered_error(err));
    }
    let message = parsed.message.as_ref().ok_or_else(|| {
        ProviderError::UpstreamError(format!("{VENDOR}: the response has no message"))
    })?;
    Ok(Completion {
        text: message.content.clone().unwrap_or_default(),
        finish_reason: parsed.finish_reason(message.calls_tools()),
        usage: parsed.usage(),
        model: parsed.model(model),
    })
}

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
