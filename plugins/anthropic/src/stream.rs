//! The Messages stream (`"stream": true`): Server-Sent Events
//! `message_start` (the model, the input tokens), per content block
//! `content_block_start`, `content_block_delta` (`text_delta` for text) and
//! `content_block_stop`, then `message_delta` (the stop reason, the output
//! tokens so far) and `message_stop`; `ping` at any time, and `error` (for
//! example `overloaded_error`) when the upstream fails mid-answer. Event
//! types the API may add later are ignored, as its versioning asks.

use llmhost_plugin_sdk::bindings::exports::llmhost::provider::streaming::{StreamEnd, StreamEvent};
use llmhost_plugin_sdk::framing::{Sse, SseEvent};
use llmhost_plugin_sdk::stream::Decoder;
use serde_json::Value;

use crate::wire::{self, VENDOR};
use llmhost_plugin_sdk::errors;
use llmhost_plugin_sdk::shared;
use llmhost_plugin_sdk::types::ProviderError;

/// What the events said so far besides their text.
pub struct EventDecoder {
    model: String,
    stop_reason: Option<String>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

impl EventDecoder {
    /// `model` is the one asked for, until `message_start` names the one
    /// answering.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            stop_reason: None,
            input_tokens: None,
            output_tokens: None,
        }
    }

    fn usage(&mut self, usage: &Value) {
        let tokens = |name: &str| usage.get(name).and_then(Value::as_u64);
        self.input_tokens = tokens("input_tokens").or(self.input_tokens);
        self.output_tokens = tokens("output_tokens").or(self.output_tokens);
    }

    fn end(&self) -> StreamEvent {
        StreamEvent::End(StreamEnd {
            finish_reason: shared::finish_reason(self.stop_reason.as_deref()),
            usage: shared::usage(self.input_tokens, self.output_tokens),
            model: self.model.clone(),
        })
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
        let text = |value: Option<&Value>| {
            value
                .filter(|v| matches!(v["type"].as_str(), Some("text" | "text_delta")))
                .and_then(|v| v.get("text"))
                .and_then(Value::as_str)
                .map(|t| vec![StreamEvent::Text(t.to_owned())])
                .unwrap_or_default()
        };
        Ok(match kind {
            "message_start" => {
                let message = &data["message"];
                if let Some(model) = message["model"].as_str().filter(|m| !m.is_empty()) {
                    self.model = model.to_owned();
                }
                self.usage(&message["usage"]);
                Vec::new()
            }
            // Text blocks and their `text_delta`s; tool input and thinking
            // come as other kinds, which a whole answer leaves out too.
            "content_block_start" => text(data.get("content_block")),
            "content_block_delta" => text(data.get("delta")),
            "message_delta" => {
                if let Some(reason) = data["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(reason.to_owned());
                }
                self.usage(&data["usage"]);
                Vec::new()
            }
            "message_stop" => vec![self.end()],
            "error" => return Err(wire::classify(None, &data, event.data.as_bytes(), None)),
            _ => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmhost_plugin_sdk::stream::decode_pieces;
    use llmhost_plugin_sdk::types::{Completion, FinishReason, Usage};

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
        assert_eq!(
            answer,
            Completion {
                text: "Hello!".into(),
                finish_reason: FinishReason::ToolCalls,
                usage: Some(Usage {
                    input_tokens: 25,
                    output_tokens: 15
                }),
                model: "claude-sonnet-4-5-20250929".into(),
            }
        );
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
}
