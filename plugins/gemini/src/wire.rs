//! The `generateContent` wire format (which `streamGenerateContent` shares
//! chunk by chunk): the request body, the response, and the mapping of error
//! answers (google.rpc.Status) to the contract's typed errors.

use llmhost_plugin_sdk::http::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use llmhost_plugin_sdk::errors;
use llmhost_plugin_sdk::shared;
use llmhost_plugin_sdk::types::{Completion, FinishReason, ProviderError, Request, Role, Usage};

pub const VENDOR: &str = "gemini";

/// The model's path segment: `gemini-2.5-flash` or `models/gemini-2.5-flash`.
pub fn model_path(model: &str) -> Result<&str, ProviderError> {
    let name = model.strip_prefix("models/").unwrap_or(model);
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if valid {
        Ok(name)
    } else {
        Err(ProviderError::InvalidRequest(format!(
            "{VENDOR}: not a model name: {model:?}"
        )))
    }
}

/// Roles `user` and `model`; system messages go to `systemInstruction`, tool
/// output (the contract gives no function name) goes as a user turn.
pub fn request_body(request: &Request) -> Vec<u8> {
    let text = |t: &str| json!({"text": t});
    let system: Vec<Value> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| text(&m.content))
        .collect();
    let contents: Vec<Value> = request
        .messages
        .iter()
        .filter(|m| m.role != Role::System)
        .map(|m| {
            let role = if m.role == Role::Assistant {
                "model"
            } else {
                "user"
            };
            json!({"role": role, "parts": [text(&m.content)]})
        })
        .collect();
    let params = &request.params;
    let mut config = Map::new();
    if let Some(n) = params.max_tokens {
        config.insert("maxOutputTokens".into(), json!(n));
    }
    if let Some(t) = params.temperature {
        config.insert("temperature".into(), shared::float(t));
    }
    if let Some(p) = params.top_p {
        config.insert("topP".into(), shared::float(p));
    }
    if !params.stop.is_empty() {
        config.insert("stopSequences".into(), json!(params.stop));
    }
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    serde_json::to_vec(&Value::Object(body)).expect("JSON")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    #[serde(default)]
    candidates: Vec<Candidate>,
    prompt_feedback: Option<PromptFeedback>,
    usage_metadata: Option<UsageMetadata>,
    model_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<Content>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    text: Option<String>,
    #[serde(default)]
    thought: bool,
    function_call: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    thoughts_token_count: Option<u64>,
}

/// What one response (or one chunk of a stream) says.
pub struct Answer {
    /// Whether there was a candidate (a stream's last chunk may only count
    /// tokens).
    pub candidate: bool,
    /// The first candidate's text, thoughts left out.
    pub text: String,
    pub calls_tool: bool,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    pub model_version: Option<String>,
}

impl GenerateContentResponse {
    /// The first candidate; a blocked prompt is `content-filtered`.
    pub fn answer(self) -> Result<Answer, ProviderError> {
        let block_reason = self.prompt_feedback.and_then(|f| f.block_reason);
        if let (true, Some(reason)) = (self.candidates.is_empty(), block_reason) {
            return Err(ProviderError::ContentFiltered(format!(
                "{VENDOR}: the prompt was blocked: {reason}"
            )));
        }
        let usage = self.usage_metadata.and_then(|u| {
            let output = match (u.candidates_token_count, u.thoughts_token_count) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            };
            shared::usage(u.prompt_token_count, output)
        });
        let candidate = self.candidates.into_iter().next();
        let finish_reason = candidate.as_ref().and_then(|c| c.finish_reason.clone());
        let parts = candidate
            .as_ref()
            .and_then(|c| c.content.as_ref())
            .map_or(&[][..], |c| c.parts.as_slice());
        Ok(Answer {
            candidate: candidate.is_some(),
            calls_tool: parts.iter().any(|p| p.function_call.is_some()),
            text: parts
                .iter()
                .filter(|p| !p.thought)
                .filter_map(|p| p.text.as_deref())
                .collect(),
            finish_reason,
            usage,
            model_version: self.model_version.filter(|m| !m.is_empty()),
        })
    }
}

pub fn finish_reason(reason: Option<&str>, calls_tool: bool) -> FinishReason {
    match reason {
        _ if calls_tool => FinishReason::ToolCalls,
        Some("RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY") => {
            FinishReason::ContentFilter
        }
        // STOP, MAX_TOKENS, SAFETY; anything else is "other".
        reason => shared::finish_reason(reason),
    }
}

/// A whole 2xx answer.
pub fn parse_response(model: &str, body: &[u8]) -> Result<Completion, ProviderError> {
    let parsed: GenerateContentResponse =
        serde_json::from_slice(body).map_err(|e| errors::malformed(VENDOR, e, body))?;
    let answer = parsed.answer()?;
    if !answer.candidate {
        return Err(ProviderError::UpstreamError(format!(
            "{VENDOR}: the response has no candidates"
        )));
    }
    Ok(Completion {
        text: answer.text,
        finish_reason: finish_reason(answer.finish_reason.as_deref(), answer.calls_tool),
        usage: answer.usage,
        model: answer.model_version.unwrap_or_else(|| model.to_owned()),
    })
}

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
