//! The `/api/chat` stream (`"stream": true`, Ollama's default): one JSON
//! object per line (`application/x-ndjson`), each with a piece of
//! `message.content` or `message.thinking`, or whole `tool_calls`; the last
//! has `done: true`, `done_reason` and the token counts. A line
//! `{"error": …}` is the server failing mid-answer.

use llmhost_plugin_sdk::framing::Ndjson;
use llmhost_plugin_sdk::stream::Decoder;
use llmhost_plugin_sdk::streaming_types::{StreamEnd, StreamEvent};
use llmhost_plugin_sdk::tools::{CallIndex, whole_delta};

use crate::response::ChatResponse;
use crate::wire::VENDOR;
use llmhost_plugin_sdk::errors;
use llmhost_plugin_sdk::types::ProviderError;

pub struct LineDecoder {
    model: String,
    calls: CallIndex,
}

impl LineDecoder {
    /// `model` is the one asked for, until a line names the one answering.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            calls: CallIndex::default(),
        }
    }
}

impl Decoder for LineDecoder {
    type Framing = Ndjson;

    fn frame(&mut self, line: String) -> Result<Vec<StreamEvent>, ProviderError> {
        let mut parsed: ChatResponse = serde_json::from_str(&line)
            .map_err(|e| errors::malformed(VENDOR, e, line.as_bytes()))?;
        if let Some(err) = &parsed.error {
            return Err(crate::errors::answered_error(err));
        }
        self.model = parsed.model(&self.model);
        let mut events = Vec::new();
        if let Some(message) = parsed.message.take() {
            if let Some(thinking) = message.thinking {
                events.push(StreamEvent::Reasoning(thinking));
            }
            if let Some(text) = message.content {
                events.push(StreamEvent::Text(text));
            }
            for call in message.tool_calls {
                let index = self.calls.next_whole();
                events.push(StreamEvent::ToolCall(whole_delta(
                    index,
                    call.numbered(index),
                )));
            }
        }
        if parsed.done == Some(true) {
            events.push(StreamEvent::End(StreamEnd {
                finish_reason: parsed.finish_reason(self.calls.count() > 0),
                usage: parsed.usage(),
                model: self.model.clone(),
                response_id: None,
                provider_state: None,
            }));
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmhost_plugin_sdk::stream::decode_pieces;
    use llmhost_plugin_sdk::types::{Completion, FinishReason};

    const STREAM: &str = concat!(
        "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T08:52:19.385406455-07:00\",\"message\":{\"role\":\"assistant\",\"content\":\"The\"},\"done\":false}\n",
        "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T08:52:19.385406455-07:00\",\"message\":{\"role\":\"assistant\",\"content\":\" sky\"},\"done\":false}\n",
        "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T19:22:45.499127Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"length\",\"total_duration\":4883583458,\"load_duration\":1334875,\"prompt_eval_count\":26,\"prompt_eval_duration\":342546000,\"eval_count\":282,\"eval_duration\":4535599000}\n",
    );

    fn decode(pieces: &[&[u8]]) -> Result<Completion, ProviderError> {
        decode_pieces(VENDOR, LineDecoder::new("llama3.2"), pieces)
    }

    #[test]
    fn pieces_and_the_done_line_make_the_answer() {
        let bytes = STREAM.as_bytes();
        let answer = decode(&[&bytes[..50], &bytes[50..200], &bytes[200..]]).unwrap();
        assert_eq!(answer.text, "The sky");
        assert_eq!(answer.finish_reason, FinishReason::Length);
        let usage = answer.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (26, 282));
        assert_eq!(answer.model, "llama3.2");
    }

    #[test]
    fn an_error_line_or_a_stream_without_its_done_line_fails() {
        let cut = STREAM
            .find("{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T19")
            .unwrap();
        let error =
            "{\"error\":\"an error was encountered while running the model: unexpected EOF\"}\n";
        let err = decode(&[&STREAM.as_bytes()[..cut], error.as_bytes()]).unwrap_err();
        assert!(
            matches!(&err, ProviderError::UpstreamError(m) if m.contains("unexpected EOF")),
            "{err:?}"
        );
        assert!(matches!(
            decode(&[&STREAM.as_bytes()[..cut]]).unwrap_err(),
            ProviderError::UpstreamError(m) if m.contains("ended before")
        ));
    }

    #[test]
    fn a_tool_call_on_any_line_finishes_as_tool_calls() {
        let stream = concat!(
            "{\"model\":\"qwen3\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}}]},\"done\":false}\n",
            "{\"model\":\"qwen3\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":3,\"eval_count\":4}",
        );
        let answer = decode(&[stream.as_bytes()]).unwrap();
        assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
        assert_eq!(answer.text, "");
        assert_eq!(answer.tool_calls.len(), 1);
        assert_eq!(answer.tool_calls[0].id, "call_0");
        assert_eq!(answer.tool_calls[0].arguments, "{\"city\":\"Paris\"}");
    }
}
