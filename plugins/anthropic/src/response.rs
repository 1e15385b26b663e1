//! The Messages API answer: its content blocks (`text`, `tool_use` as tool
//! calls, `thinking` as reasoning), the thinking blocks kept whole as the
//! provider state (the API wants them back, signed, with tool results), the
//! stop reason, the usage with cache reads and writes, the id.

use llmhost_plugin_sdk::types::{Completion, ProviderError, ToolCall, Usage};
use llmhost_plugin_sdk::{errors, json, shared};
use serde::Deserialize;
use serde_json::Value;

use crate::wire::VENDOR;

#[derive(Deserialize)]
struct Message {
    id: Option<String>,
    model: Option<String>,
    content: Vec<Value>,
    stop_reason: Option<String>,
    usage: Option<Value>,
}

/// `usage` of a message or a stream's `message_delta`: the input counts
/// with cache reads and writes added in and given apart too.
pub fn usage(usage: &Value) -> Option<Usage> {
    let tokens = |name: &str| usage.get(name).and_then(Value::as_u64);
    let (read, write) = (
        tokens("cache_read_input_tokens"),
        tokens("cache_creation_input_tokens"),
    );
    let input = tokens("input_tokens").map(|n| n + read.unwrap_or(0) + write.unwrap_or(0));
    let mut out = shared::usage(input, tokens("output_tokens"))?;
    out.cached_input_tokens = read.map(shared::count);
    out.cache_write_input_tokens = write.map(shared::count);
    Some(out)
}

/// The thinking blocks of an answer as its provider state, or none.
pub fn provider_state(thinking: Vec<Value>) -> Option<String> {
    (!thinking.is_empty()).then(|| json::text(&Value::Array(thinking)))
}

/// A whole 2xx answer.
pub fn parse_response(model: &str, body: &[u8]) -> Result<Completion, ProviderError> {
    let parsed: Message =
        serde_json::from_slice(body).map_err(|e| errors::malformed(VENDOR, e, body))?;
    let (mut text, mut reasoning) = (String::new(), None::<String>);
    let (mut tool_calls, mut thinking) = (Vec::new(), Vec::new());
    for block in parsed.content {
        let field = |name: &str| block[name].as_str().unwrap_or_default().to_owned();
        match block["type"].as_str() {
            Some("text") => text.push_str(&field("text")),
            Some("tool_use") => tool_calls.push(ToolCall {
                id: field("id"),
                name: field("name"),
                arguments: json::text(&block["input"]),
            }),
            Some("thinking") => {
                reasoning
                    .get_or_insert_default()
                    .push_str(&field("thinking"));
                thinking.push(block);
            }
            Some("redacted_thinking") => thinking.push(block),
            _ => {}
        }
    }
    Ok(Completion {
        text,
        reasoning,
        refusal: None,
        tool_calls,
        finish_reason: shared::finish_reason(parsed.stop_reason.as_deref()),
        usage: parsed.usage.as_ref().and_then(usage),
        model: parsed
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| model.to_owned()),
        response_id: parsed.id,
        provider_state: provider_state(thinking),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmhost_plugin_sdk::types::FinishReason;

    #[test]
    fn tool_use_thinking_and_cache_counts_are_read() {
        let body = br#"{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [
              {"type": "thinking", "thinking": "Paris weather.", "signature": "EqQB"},
              {"type": "text", "text": "Checking."},
              {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 20}}"#;
        let answer = parse_response("claude", body).unwrap();
        assert_eq!(answer.text, "Checking.");
        assert_eq!(answer.reasoning.as_deref(), Some("Paris weather."));
        assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
        assert_eq!(answer.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!(answer.tool_calls[0].id, "toolu_1");
        assert_eq!(answer.response_id.as_deref(), Some("msg_1"));
        let state: Value = serde_json::from_str(answer.provider_state.as_deref().unwrap()).unwrap();
        assert_eq!(state[0]["signature"], "EqQB");
        let usage = answer.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (115, 20));
        assert_eq!(usage.cached_input_tokens, Some(100));
        assert_eq!(usage.cache_write_input_tokens, Some(5));
    }
}
