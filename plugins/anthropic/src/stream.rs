//! The Messages stream (`"stream": true`): Server-Sent Events
//! `message_start` (the id, the model, the input tokens), per content block
//! `content_block_start`, `content_block_delta` (`text_delta`,
//! `input_json_delta` for a `tool_use` block's arguments, `thinking_delta`
//! and `signature_delta` for a `thinking` block) and `content_block_stop`,
//! then `message_delta` (the stop reason, the output tokens so far) and
//! `message_stop`; `ping` at any time, and `error` (for example
//! `overloaded_error`) when the upstream fails mid-answer. Event and block
//! types the API may add later are ignored, as its versioning asks.

use llmhost_plugin_sdk::errors;
use llmhost_plugin_sdk::framing::{Sse, SseEvent};
use llmhost_plugin_sdk::shared;
use llmhost_plugin_sdk::stream::Decoder;
use llmhost_plugin_sdk::streaming_types::{StreamEnd, StreamEvent, ToolCallDelta};
use llmhost_plugin_sdk::types::{ProviderError, Usage};
use serde_json::{Value, json};

use crate::errors::classify;
use crate::response;
use crate::wire::VENDOR;

/// What the events said so far besides their pieces.
pub struct EventDecoder {
    model: String,
    response_id: Option<String>,
    stop_reason: Option<String>,
    usage: Value,
    /// The tool calls by contract index: their block's index, and whether
    /// arguments arrived.
    calls: Vec<(u64, bool)>,
    /// Thinking blocks by block index, assembled for the provider state.
    thinking: Vec<(u64, Value)>,
}

impl EventDecoder {
    /// `model` is the one asked for, until `message_start` names the one
    /// answering.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            response_id: None,
            stop_reason: None,
            usage: json!({}),
            calls: Vec::new(),
            thinking: Vec::new(),
        }
    }

    /// Counts given later replace earlier ones (`message_delta` repeats
    /// the totals so far).
    fn count(&mut self, usage: &Value) {
        if let (Value::Object(into), Value::Object(from)) = (&mut self.usage, usage) {
            for (key, value) in from.iter().filter(|(_, v)| v.is_u64()) {
                into.insert(key.clone(), value.clone());
            }
        }
    }

    fn end(&mut self) -> StreamEvent {
        let thinking = std::mem::take(&mut self.thinking);
        let usage: Option<Usage> = response::usage(&self.usage);
        StreamEvent::End(StreamEnd {
            finish_reason: shared::finish_reason(self.stop_reason.as_deref()),
            usage,
            model: self.model.clone(),
            response_id: self.response_id.clone(),
            provider_state: response::provider_state(
                thinking.into_iter().map(|(_, block)| block).collect(),
            ),
        })
    }

    fn block_start(&mut self, index: u64, block: &Value) -> Vec<StreamEvent> {
        let field = |name: &str| block[name].as_str().unwrap_or_default().to_owned();
        match block["type"].as_str() {
            Some("text") => vec![StreamEvent::Text(field("text"))],
            Some("tool_use") => {
                // The block starts with an empty `input`; anything else is
                // whole arguments sent at once.
                let input = block.get("input").filter(|i| *i != &json!({}));
                let arguments = input
                    .map(llmhost_plugin_sdk::json::text)
                    .unwrap_or_default();
                self.calls.push((index, !arguments.is_empty()));
                vec![StreamEvent::ToolCall(ToolCallDelta {
                    index: self.calls.len() as u32 - 1,
                    id: Some(field("id")),
                    name: Some(field("name")),
                    arguments,
                })]
            }
            Some("thinking" | "redacted_thinking") => {
                self.thinking.push((index, block.clone()));
                vec![StreamEvent::Reasoning(field("thinking"))]
            }
            _ => Vec::new(),
        }
    }

    fn block_delta(&mut self, index: u64, delta: &Value) -> Vec<StreamEvent> {
        let field = |name: &str| delta[name].as_str().unwrap_or_default().to_owned();
        match delta["type"].as_str() {
            Some("text_delta") => vec![StreamEvent::Text(field("text"))],
            Some("input_json_delta") => {
                let Some(call) = self.call(index) else {
                    return Vec::new();
                };
                let fragment = field("partial_json");
                self.calls[call as usize].1 |= !fragment.is_empty();
                vec![StreamEvent::ToolCall(ToolCallDelta {
                    index: call,
                    id: None,
                    name: None,
                    arguments: fragment,
                })]
            }
            Some("thinking_delta") => {
                let piece = field("thinking");
                self.thinking_block(index, "thinking", &piece);
                vec![StreamEvent::Reasoning(piece)]
            }
            Some("signature_delta") => {
                self.thinking_block(index, "signature", &field("signature"));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// The contract index of the tool call in block `index`, if it is one.
    fn call(&self, index: u64) -> Option<u32> {
        self.calls
            .iter()
            .position(|(block, _)| *block == index)
            .map(|call| call as u32)
    }

    fn thinking_block(&mut self, index: u64, field: &str, piece: &str) {
        if let Some((_, block)) = self.thinking.iter_mut().find(|(i, _)| *i == index) {
            let text = format!("{}{piece}", block[field].as_str().unwrap_or_default());
            block[field] = json!(text);
        }
    }

    /// A call whose block ends without arguments had none: `{}`, as a
    /// whole answer's `input` says.
    fn block_stop(&mut self, index: u64) -> Vec<StreamEvent> {
        let Some(call) = self.call(index) else {
            return Vec::new();
        };
        if std::mem::replace(&mut self.calls[call as usize].1, true) {
            return Vec::new();
        }
        vec![StreamEvent::ToolCall(ToolCallDelta {
            index: call,
            id: None,
            name: None,
            arguments: "{}".into(),
        })]
    }
}

impl Decoder for EventDecoder {
    type Framing = Sse;

    fn frame(&mut self, event: SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        let data: Value = serde_json::from_str(&event.data)
            .map_err(|e| errors::malformed(VENDOR, e, event.data.as_bytes()))?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(&event.event);
        let index = data["index"].as_u64().unwrap_or(0);
        Ok(match kind {
            "message_start" => {
                let message = &data["message"];
                if let Some(model) = message["model"].as_str().filter(|m| !m.is_empty()) {
                    self.model = model.to_owned();
                }
                self.response_id = message["id"].as_str().map(str::to_owned);
                self.count(&message["usage"]);
                Vec::new()
            }
            "content_block_start" => self.block_start(index, &data["content_block"]),
            "content_block_delta" => self.block_delta(index, &data["delta"]),
            "content_block_stop" => self.block_stop(index),
            "message_delta" => {
                if let Some(reason) = data["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(reason.to_owned());
                }
                self.count(&data["usage"]);
                Vec::new()
            }
            "message_stop" => vec![self.end()],
            "error" => return Err(classify(None, &data, event.data.as_bytes(), None)),
            _ => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmhost_plugin_sdk::stream::decode_pieces;
    use llmhost_plugin_sdk::types::{Completion, FinishReason};

    const STREAM: &str = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5-20250929\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: ping\n",
        "data: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"!\"}}\n\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}\n\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n",
        "event: message_stop\n",
        "data: {\"type\":\"message_stop\"}\n\n",
    );

    fn decode(pieces: &[&[u8]]) -> Result<Completion, ProviderError> {
        decode_pieces(VENDOR, EventDecoder::new("claude-sonnet-4-5"), pieces)
    }

    #[test]
    fn text_deltas_stop_reason_and_usage_make_the_answer() {
        let bytes = STREAM.as_bytes();
        let answer = decode(&[&bytes[..300], &bytes[300..301], &bytes[301..]]).unwrap();
        assert_eq!(answer.text, "Hello!");
        assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
        let usage = answer.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (25, 15));
        assert_eq!(answer.model, "claude-sonnet-4-5-20250929");
        assert_eq!(answer.response_id.as_deref(), Some("msg_1"));
        assert_eq!(answer.tool_calls.len(), 1);
        assert_eq!(answer.tool_calls[0].id, "toolu_1");
        assert_eq!(answer.tool_calls[0].name, "get_weather");
        assert_eq!(answer.tool_calls[0].arguments, "{\"city\": \"Paris\"}");
    }

    #[test]
    fn an_error_event_mid_stream_is_a_typed_error() {
        let cut = STREAM.find("event: content_block_stop").unwrap();
        let error = "event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n";
        let err = decode(&[&STREAM.as_bytes()[..cut], error.as_bytes()]).unwrap_err();
        assert!(
            matches!(&err, ProviderError::UpstreamUnavailable(m) if m.contains("overloaded_error") && m.contains("mid-stream")),
            "{err:?}"
        );
        let api = "event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"api_error\", \"message\": \"Internal server error\"}}\n\n";
        assert!(matches!(
            decode(&[api.as_bytes()]).unwrap_err(),
            ProviderError::UpstreamError(_)
        ));
    }

    #[test]
    fn a_stream_without_message_stop_is_incomplete() {
        let cut = STREAM.find("event: message_stop").unwrap();
        assert!(matches!(
            decode(&[&STREAM.as_bytes()[..cut]]).unwrap_err(),
            ProviderError::UpstreamError(m) if m.contains("ended before")
        ));
    }

    #[test]
    fn thinking_arguments_split_over_many_fragments_and_empty_calls_assemble() {
        let event = |data: Value| format!("event: x\ndata: {data}\n\n");
        let mut stream = String::new();
        stream += &event(
            json!({"type": "message_start", "message": {"id": "msg_2", "model": "claude", "usage": {"input_tokens": 3, "cache_read_input_tokens": 7}}}),
        );
        stream += &event(
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        );
        stream += &event(
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Need "}}),
        );
        stream += &event(
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "tools."}}),
        );
        stream += &event(
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}}),
        );
        stream += &event(json!({"type": "content_block_stop", "index": 0}));
        stream += &event(
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_a", "name": "f", "input": {}}}),
        );
        for piece in ["{\"q\"", ": \"a", "b", "c\"", "}"] {
            stream += &event(
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": piece}}),
            );
        }
        stream += &event(json!({"type": "content_block_stop", "index": 1}));
        stream += &event(
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_b", "name": "g", "input": {}}}),
        );
        stream += &event(json!({"type": "content_block_stop", "index": 2}));
        stream += &event(
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
        );
        stream += &event(json!({"type": "message_stop"}));
        let bytes = stream.as_bytes();
        let pieces: Vec<&[u8]> = bytes.chunks(11).collect();
        let answer = decode(&pieces).unwrap();
        assert_eq!(answer.reasoning.as_deref(), Some("Need tools."));
        assert_eq!(answer.tool_calls[0].arguments, "{\"q\": \"abc\"}");
        assert_eq!(
            (
                answer.tool_calls[1].id.as_str(),
                answer.tool_calls[1].arguments.as_str()
            ),
            ("toolu_b", "{}")
        );
        let state: Value = serde_json::from_str(answer.provider_state.as_deref().unwrap()).unwrap();
        assert_eq!(
            state,
            json!([{"type": "thinking", "thinking": "Need tools.", "signature": "sig"}])
        );
        let usage = answer.usage.unwrap();
        assert_eq!(
            (usage.input_tokens, usage.cached_input_tokens),
            (10, Some(7))
        );
    }
}
