//! The Chat Completions answer: the first choice's text, refusal, tool
//! calls and reasoning (`reasoning_content` or `reasoning`, which
//! compatible servers such as vLLM, DeepSeek and OpenRouter return), the
//! finish reason, the usage with its cached and reasoning details, the id.

use llmhost_plugin_sdk::errors;
use llmhost_plugin_sdk::shared;
use llmhost_plugin_sdk::types::{Completion, FinishReason, ProviderError, ToolCall, Usage};
use serde::Deserialize;

use crate::wire::VENDOR;

#[derive(Deserialize)]
struct ChatCompletion {
    id: Option<String>,
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
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize)]
pub struct ChatUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<PromptDetails>,
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    reasoning_tokens: Option<u64>,
}

impl ChatUsage {
    /// The contract's usage, with the details OpenAI reports.
    pub fn usage(self) -> Option<Usage> {
        let mut usage = shared::usage(self.prompt_tokens, self.completion_tokens)?;
        usage.cached_input_tokens = self
            .prompt_tokens_details
            .and_then(|d| d.cached_tokens)
            .map(shared::count);
        usage.reasoning_tokens = self
            .completion_tokens_details
            .and_then(|d| d.reasoning_tokens)
            .map(shared::count);
        Some(usage)
    }
}

/// A refusal is content filtered, though the API says it stopped.
pub fn finish_reason(reason: Option<&str>, refused: bool) -> FinishReason {
    match shared::finish_reason(reason) {
        FinishReason::Stop if refused => FinishReason::ContentFilter,
        other => other,
    }
}

/// A whole 2xx answer.
pub fn parse_response(model: &str, body: &[u8]) -> Result<Completion, ProviderError> {
    let parsed: ChatCompletion =
        serde_json::from_slice(body).map_err(|e| errors::malformed(VENDOR, e, body))?;
    let choice = parsed.choices.into_iter().next().ok_or_else(|| {
        ProviderError::UpstreamError(format!("{VENDOR}: the response has no choices"))
    })?;
    let message = choice.message.ok_or_else(|| {
        ProviderError::UpstreamError(format!("{VENDOR}: the choice has no message"))
    })?;
    let tool_calls = message
        .tool_calls
        .into_iter()
        .enumerate()
        .map(|(i, call)| ToolCall {
            id: call
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| llmhost_plugin_sdk::tools::generated_id(i as u32)),
            name: call.function.name,
            arguments: call.function.arguments,
        })
        .collect();
    let refusal = message.refusal.filter(|r| !r.is_empty());
    Ok(Completion {
        text: message.content.unwrap_or_default(),
        reasoning: message.reasoning_content.or(message.reasoning),
        finish_reason: finish_reason(choice.finish_reason.as_deref(), refusal.is_some()),
        refusal,
        tool_calls,
        usage: parsed.usage.and_then(ChatUsage::usage),
        model: parsed
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| model.to_owned()),
        response_id: parsed.id,
        provider_state: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_usage_details_and_the_id_are_read() {
        let body = br#"{"id": "chatcmpl-9", "object": "chat.completion", "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null,
              "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                             {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
              "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 80, "completion_tokens": 30, "total_tokens": 110,
              "prompt_tokens_details": {"cached_tokens": 64}, "completion_tokens_details": {"reasoning_tokens": 12}}}"#;
        let answer = parse_response("gpt-4o", body).unwrap();
        assert_eq!(answer.text, "");
        assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
        assert_eq!(answer.tool_calls.len(), 2);
        assert_eq!(answer.tool_calls[0].id, "call_a");
        assert_eq!(answer.tool_calls[0].arguments, "{\"city\":\"Paris\"}");
        assert_eq!(answer.tool_calls[1].name, "get_time");
        assert_eq!(answer.response_id.as_deref(), Some("chatcmpl-9"));
        let usage = answer.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (80, 30));
        assert_eq!(usage.cached_input_tokens, Some(64));
        assert_eq!(usage.reasoning_tokens, Some(12));
    }

    #[test]
    fn a_refusal_is_its_own_field_and_finishes_as_content_filter() {
        let body =
            br#"{"model": "m", "choices": [{"message": {"role": "assistant", "content": null,
            "refusal": "I can't help with that."}, "finish_reason": "stop"}]}"#;
        let answer = parse_response("m", body).unwrap();
        assert_eq!(answer.text, "");
        assert_eq!(answer.refusal.as_deref(), Some("I can't help with that."));
        assert_eq!(answer.finish_reason, FinishReason::ContentFilter);
    }

    #[test]
    fn reasoning_content_of_compatible_servers_is_the_reasoning() {
        let body = br#"{"model": "deepseek-reasoner", "choices": [{"message": {"role": "assistant",
            "content": "4", "reasoning_content": "2+2 is 4"}, "finish_reason": "stop"}]}"#;
        let answer = parse_response("m", body).unwrap();
        assert_eq!(answer.reasoning.as_deref(), Some("2+2 is 4"));
        assert_eq!(answer.text, "4");
        assert!(parse_response("m", br#"{"choices": []}"#).is_err());
    }
}
