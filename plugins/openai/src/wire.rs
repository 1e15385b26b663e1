//! The Chat Completions wire format: the request body, the response, and the
//! mapping of error answers to the contract's typed errors.

use llmhost_plugin_sdk::http::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use llmhost_plugin_sdk::errors;
use llmhost_plugin_sdk::shared;
use llmhost_plugin_sdk::types::{Completion, FinishReason, ProviderError, Request, Role};

pub const VENDOR: &str = "openai";

/// The request; a streamed one may ask for the usage in a last chunk.
pub fn request_body(
    request: &Request,
    max_tokens_param: &str,
    stream: bool,
    include_usage: bool,
) -> Vec<u8> {
    // The contract's tool messages carry no tool_call_id, which the API
    // requires for role "tool": they go as user turns.
    let messages = shared::chat_messages(&request.messages, |role| {
        Some(match role {
            Role::System => "system",
            Role::User | Role::Tool => "user",
            Role::Assistant => "assistant",
        })
    });
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("messages".into(), messages);
    let params = &request.params;
    if let Some(n) = params.max_tokens {
        body.insert(max_tokens_param.into(), json!(n));
    }
    if let Some(t) = params.temperature {
        body.insert("temperature".into(), shared::float(t));
    }
    if let Some(p) = params.top_p {
        body.insert("top_p".into(), shared::float(p));
    }
    if !params.stop.is_empty() {
        body.insert("stop".into(), json!(params.stop));
    }
    body.insert("stream".into(), json!(stream));
    if include_usage {
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    serde_json::to_vec(&Value::Object(body)).expect("JSON")
}

#[derive(Deserialize)]
struct ChatCompletion {
    model: Option<String>,
    choices: Vec<Choice>,
    usage: Option<ChatUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<ChoiceMessage>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
    refusal: Option<String>,
}

#[derive(Deserialize)]
pub struct ChatUsage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

/// A whole 2xx answer.
pub fn parse_response(model: &str, body: &[u8]) -> Result<Completion, ProviderError> {
    let parsed: ChatCompletion =
        serde_json::from_slice(body).map_err(|e| errors::malformed(VENDOR, e, body))?;
    let choice = parsed.choices.into_iter().next().ok_or_else(|| {
        ProviderError::UpstreamError(format!("{VENDOR}: the response has no choices"))
    })?;
    let (text, refused) = match choice.message {
        Some(ChoiceMessage {
            content: Some(text),
            ..
        }) => (text, false),
        Some(ChoiceMessage {
            refusal: Some(text),
            ..
        }) => (text, true),
        _ => (String::new(), false),
    };
    let finish_reason = match shared::finish_reason(choice.finish_reason.as_deref()) {
        FinishReason::Stop if refused => FinishReason::ContentFilter,
        other => other,
    };
    Ok(Completion {
        text,
        finish_reason,
        usage: parsed
            .usage
            .and_then(|u| shared::usage(u.prompt_tokens, u.completion_tokens)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use llmhost_plugin_sdk::types::{Message, Params};

    #[test]
    fn a_streamed_request_asks_for_usage_unless_told_not_to() {
        let request = Request {
            model: "m".into(),
            messages: vec![Message {
                role: Role::Tool,
                content: "42".into(),
            }],
            params: Params {
                max_tokens: Some(5),
                temperature: None,
                top_p: None,
                stop: vec![],
            },
        };
        let body = |stream, usage| -> Value {
            serde_json::from_slice(&request_body(
                &request,
                "max_completion_tokens",
                stream,
                usage,
            ))
            .unwrap()
        };
        let streamed = body(true, true);
        assert_eq!(streamed["stream"], true);
        assert_eq!(streamed["stream_options"], json!({"include_usage": true}));
        assert_eq!(streamed["max_completion_tokens"], 5);
        assert_eq!(
            streamed["messages"],
            json!([{"role": "user", "content": "42"}])
        );
        assert!(body(true, false).get("stream_options").is_none());
        assert_eq!(body(false, false)["stream"], false);
    }
}
