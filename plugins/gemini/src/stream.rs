//! The `streamGenerateContent?alt=sse` stream: Server-Sent Events whose
//! data are `GenerateContentResponse` chunks, each with the next piece of
//! the first candidate's text; the last carries `finishReason` and the
//! `usageMetadata`. The stream has no end marker: it ends when the body
//! does, and is whole only if a chunk said why it finished. A chunk
//! `{"error": …}` is the upstream failing mid-answer.

use llmhost_plugin_sdk::bindings::exports::llmhost::provider::streaming::{StreamEnd, StreamEvent};
use llmhost_plugin_sdk::framing::{Sse, SseEvent};
use llmhost_plugin_sdk::stream::Decoder;
use serde_json::Value;

use crate::wire::{self, GenerateContentResponse, VENDOR};
use llmhost_plugin_sdk::errors;
use llmhost_plugin_sdk::types::{ProviderError, Usage};

/// What the chunks said so far besides their text.
pub struct ChunkDecoder {
    model: String,
    finish_reason: Option<String>,
    calls_tool: bool,
    usage: Option<Usage>,
}

impl ChunkDecoder {
    /// `model` is the one asked for, until a chunk names the one answering.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            finish_reason: None,
            calls_tool: false,
            usage: None,
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
            return Err(wire::classify(
                status,
                "error mid-stream",
                &value,
                raw,
                None,
            ));
        }
        let chunk: GenerateContentResponse = serde_json::from_value(value).map_err(malformed)?;
        let answer = chunk.answer()?;
        self.calls_tool |= answer.calls_tool;
        self.finish_reason = answer.finish_reason.or(self.finish_reason.take());
        self.usage = answer.usage.or(self.usage);
        if let Some(model) = answer.model_version {
            self.model = model;
        }
        Ok(vec![StreamEvent::Text(answer.text)])
    }

    fn body_end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        let Some(reason) = &self.finish_reason else {
            return Ok(Vec::new());
        };
        Ok(vec![StreamEvent::End(StreamEnd {
            finish_reason: wire::finish_reason(Some(reason), self.calls_tool),
            usage: self.usage,
            model: self.model.clone(),
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
        assert_eq!(
            answer,
            Completion {
                text: "The sky is blue.".into(),
                finish_reason: FinishReason::Length,
                usage: Some(Usage {
                    input_tokens: 8,
                    output_tokens: 7
                }),
                model: "gemini-2.5-flash".into(),
            }
        );
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
}
