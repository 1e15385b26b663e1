//! The `streamGenerateContent?alt=sse` stream: Server-Sent Events whose
//! data are `GenerateContentResponse` chunks, each with the next parts of
//! the first candidate (text, thoughts, whole `functionCall`s); the last
//! carries `finishReason` and the `usageMetadata`. The stream has no end
//! marker: it ends when the body does, and is whole only if a chunk said
//! why it finished. A chunk `{"error": …}` is the upstream failing
//! mid-answer.

use llmhost_plugin_sdk::errors;
use llmhost_plugin_sdk::framing::{Sse, SseEvent};
use llmhost_plugin_sdk::json;
use llmhost_plugin_sdk::stream::Decoder;
use llmhost_plugin_sdk::streaming_types::{StreamEnd, StreamEvent};
use llmhost_plugin_sdk::tools::{CallIndex, whole_delta};
use llmhost_plugin_sdk::types::{ProviderError, Usage};
use serde_json::Value;

use crate::errors::classify;
use crate::response::{self, GenerateContentResponse};
use crate::wire::VENDOR;

/// What the chunks said so far besides their pieces.
pub struct ChunkDecoder {
    model: String,
    response_id: Option<String>,
    finish_reason: Option<String>,
    calls: CallIndex,
    usage: Option<Usage>,
    /// Every part so far, and whether one carried a thought signature
    /// (then they are the provider state).
    parts: Vec<Value>,
    signed: bool,
}

impl ChunkDecoder {
    /// `model` is the one asked for, until a chunk names the one answering.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            response_id: None,
            finish_reason: None,
            calls: CallIndex::default(),
            usage: None,
            parts: Vec::new(),
            signed: false,
        }
    }
}

impl Decoder for ChunkDecoder {
    type Framing = Sse;

    fn frame(&mut self, event: SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        let raw = event.data.as_bytes();
        let malformed = |e| errors::malformed(VENDOR, e, raw);
        let value: Value = serde_json::from_str(&event.data).map_err(malformed)?;
        if let Some(error) = value.get("error") {
            let status = error.get("code").and_then(Value::as_u64);
            let status = status.and_then(|c| u16::try_from(c).ok()).unwrap_or(500);
            return Err(classify(status, "error mid-stream", &value, raw, None));
        }
        let chunk: GenerateContentResponse = serde_json::from_value(value).map_err(malformed)?;
        let answer = chunk.answer()?;
        self.finish_reason = answer.finish_reason.or(self.finish_reason.take());
        self.usage = answer.usage.or(self.usage);
        if let Some(model) = answer.model_version {
            self.model = model;
        }
        self.response_id = answer.response_id.or(self.response_id.take());
        self.signed |= answer.signed;
        self.parts.extend(answer.parts);
        let mut events = vec![
            StreamEvent::Reasoning(answer.reasoning),
            StreamEvent::Text(answer.text),
        ];
        for call in answer.calls {
            let index = self.calls.next_whole();
            events.push(StreamEvent::ToolCall(whole_delta(
                index,
                call.numbered(index),
            )));
        }
        Ok(events)
    }

    fn body_end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        let Some(reason) = &self.finish_reason else {
            return Ok(Vec::new());
        };
        let parts = std::mem::take(&mut self.parts);
        Ok(vec![StreamEvent::End(StreamEnd {
            finish_reason: response::finish_reason(Some(reason), self.calls.count() > 0),
            usage: self.usage,
            model: self.model.clone(),
            response_id: self.response_id.clone(),
            provider_state: self.signed.then(|| json::text(&Value::Array(parts))),
        })])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmhost_plugin_sdk::stream::decode_pieces;
    use llmhost_plugin_sdk::types::{Completion, FinishReason};

    const STREAM: &str = concat!(
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"The\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8,\"totalTokenCount\": 8},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r1\"}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"thinking…\", \"thought\": true}, {\"text\": \" sky is blue\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8,\"totalTokenCount\": 8},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r1\"}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \".\"}],\"role\": \"model\"},\"finishReason\": \"MAX_TOKENS\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8,\"candidatesTokenCount\": 5,\"thoughtsTokenCount\": 2,\"totalTokenCount\": 15},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r1\"}\r\n\r\n",
    );

    fn decode(pieces: &[&[u8]]) -> Result<Completion, ProviderError> {
        decode_pieces(VENDOR, ChunkDecoder::new("gemini-2.5-flash-latest"), pieces)
    }

    #[test]
    fn chunks_make_the_answer_when_the_body_ends_after_a_finish_reason() {
        let bytes = STREAM.as_bytes();
        let answer = decode(&[&bytes[..10], &bytes[10..]]).unwrap();
        assert_eq!(answer.text, "The sky is blue.");
        assert_eq!(answer.reasoning.as_deref(), Some("thinking…"));
        assert_eq!(answer.finish_reason, FinishReason::Length);
        let usage = answer.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (8, 7));
        assert_eq!(answer.model, "gemini-2.5-flash");
        assert_eq!(answer.response_id.as_deref(), Some("r1"));
    }

    #[test]
    fn an_error_chunk_a_blocked_prompt_or_a_stream_without_finish_reason_fails() {
        let cut = STREAM.rfind("data: ").unwrap();
        let error = "data: {\"error\": {\"code\": 503, \"message\": \"The model is overloaded. Please try again later.\", \"status\": \"UNAVAILABLE\"}}\r\n\r\n";
        let err = decode(&[&STREAM.as_bytes()[..cut], error.as_bytes()]).unwrap_err();
        assert!(
            matches!(&err, ProviderError::UpstreamUnavailable(m) if m.contains("mid-stream") && m.contains("overloaded")),
            "{err:?}"
        );
        let blocked = "data: {\"promptFeedback\": {\"blockReason\": \"SAFETY\"}, \"usageMetadata\": {\"promptTokenCount\": 8}}\n\n";
        assert!(matches!(
            decode(&[blocked.as_bytes()]).unwrap_err(),
            ProviderError::ContentFiltered(_)
        ));
        assert!(matches!(
            decode(&[&STREAM.as_bytes()[..cut]]).unwrap_err(),
            ProviderError::UpstreamError(m) if m.contains("ended before")
        ));
    }

    #[test]
    fn function_calls_in_chunks_become_numbered_tool_calls() {
        let stream = concat!(
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"get_weather\", \"args\": {\"city\": \"Paris\"}}}],\"role\": \"model\"},\"index\": 0}]}\r\n\r\n",
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"get_time\", \"args\": {}}}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}]}\r\n\r\n",
        );
        let answer = decode(&[stream.as_bytes()]).unwrap();
        assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
        assert_eq!(answer.tool_calls.len(), 2);
        assert_eq!(answer.tool_calls[0].id, "call_0");
        assert_eq!(answer.tool_calls[0].arguments, "{\"city\":\"Paris\"}");
        assert_eq!(
            (
                answer.tool_calls[1].id.as_str(),
                answer.tool_calls[1].name.as_str()
            ),
            ("call_1", "get_time")
        );
    }
}
