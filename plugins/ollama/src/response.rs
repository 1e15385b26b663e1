//! Ollama's `/api/chat` answer, whole and each line of a stream: the
//! message's text, `thinking` as reasoning, `tool_calls` (whole objects,
//! numbered, ids made up when absent), `done_reason`, the token counts.

use llmhost_plugin_sdk::json;
use llmhost_plugin_sdk::shared;
use llmhost_plugin_sdk::tools::generated_id;
use llmhost_plugin_sdk::types::{Completion, FinishReason, ProviderError, ToolCall, Usage};
use serde::Deserialize;
use serde_json::Value;

use crate::wire::VENDOR;
use llmhost_plugin_sdk::errors;

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
    pub thinking: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<WireCall>,
}

#[derive(Deserialize)]
pub struct WireCall {
    pub id: Option<String>,
    pub function: WireFunction,
}

#[derive(Deserialize)]
pub struct WireFunction {
    pub name: String,
    #[serde(default)]
    pub arguments: Value,
}

impl WireCall {
    /// The call numbered `index` in its answer: Ollama's arguments are an
    /// object, sent on as JSON text; its id, or one made up.
    pub fn numbered(self, index: u32) -> ToolCall {
        let arguments = match self.function.arguments {
            Value::Null => "{}".to_owned(),
            value => json::text(&value),
        };
        ToolCall {
            id: self
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| generated_id(index)),
            name: self.function.name,
            arguments,
        }
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
        return Err(crate::errors::answered_error(err));
    }
    let finish_reason = parsed.finish_reason(
        parsed
            .message
            .as_ref()
            .is_some_and(|m| !m.tool_calls.is_empty()),
    );
    let (usage, model) = (parsed.usage(), parsed.model(model));
    let message = parsed.message.ok_or_else(|| {
        ProviderError::UpstreamError(format!("{VENDOR}: the response has no message"))
    })?;
    Ok(Completion {
        text: message.content.unwrap_or_default(),
        reasoning: message.thinking.filter(|t| !t.is_empty()),
        refusal: None,
        tool_calls: message
            .tool_calls
            .into_iter()
            .zip(0..)
            .map(|(call, i)| call.numbered(i))
            .collect(),
        finish_reason,
        usage,
        model,
        response_id: None,
        provider_state: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_and_thinking_are_read_with_made_up_ids() {
        let body = br#"{"model": "qwen3", "message": {"role": "assistant", "content": "",
            "thinking": "Need weather.",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
            "done": true, "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 6}"#;
        let answer = parse_response("qwen3", body).unwrap();
        assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
        assert_eq!(answer.reasoning.as_deref(), Some("Need weather."));
        assert_eq!(answer.tool_calls[0].id, "call_0");
        assert_eq!(answer.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
    }
}
