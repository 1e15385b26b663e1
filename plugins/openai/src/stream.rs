//! The Chat Completions stream (`"stream": true`): Server-Sent Events whose
//! data are `chat.completion.chunk` objects (`choices[0].delta` with
//! `content`, `refusal`, `reasoning_content` or `reasoning` from compatible
//! servers, and `tool_calls` fragments keyed by `index`, the first with the
//! call's `id` and name; then `finish_reason`, then a last chunk with
//! `usage` and no choices, as `stream_options.include_usage` asks), ended by
//! `data: [DONE]`. An `{"error": …}` object in the stream is the upstream
//! failing mid-answer.

use llmhost_plugin_sdk::errors;
use llmhost_plugin_sdk::framing::{Sse, SseEvent};
use llmhost_plugin_sdk::stream::Decoder;
use llmhost_plugin_sdk::streaming_types::{StreamEnd, StreamEvent, ToolCallDelta};
use llmhost_plugin_sdk::tools::{CallIndex, generated_id};
use llmhost_plugin_sdk::types::{ProviderError, Usage};
use serde::Deserialize;
use serde_json::Value;

use crate::errors::classify;
use crate::response::{self, ChatUsage};
use crate::wire::VENDOR;

#[derive(Deserialize)]
struct Chunk {
    id: Option<String>,
    model: Option<String>,
    choices: Option<Vec<ChunkChoice>>,
    usage: Option<ChatUsage>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Default, Deserialize)]
struct Delta {
    content: Option<String>,
    refusal: Option<String>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<CallFragment>,
}

#[derive(Deserialize)]
struct CallFragment {
    index: Option<u64>,
    id: Option<String>,
    function: Option<FunctionFragment>,
}

#[derive(Deserialize)]
struct FunctionFragment {
    name: Option<String>,
    arguments: Option<String>,
}

/// What the chunks said so far besides their pieces.
pub struct ChunkDecoder {
    model: String,
    response_id: Option<String>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    refused: bool,
    calls: CallIndex,
    /// The vendor's index of the call fragments without one continue.
    last_call: u64,
}

impl ChunkDecoder {
    /// `model` is the one asked for, until a chunk names the one answering.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            response_id: None,
            finish_reason: None,
            usage: None,
            refused: false,
            calls: CallIndex::default(),
            last_call: 0,
        }
    }

    fn end(&self) -> StreamEvent {
        StreamEvent::End(StreamEnd {
            finish_reason: response::finish_reason(self.finish_reason.as_deref(), self.refused),
            usage: self.usage,
            model: self.model.clone(),
            response_id: self.response_id.clone(),
            provider_state: None,
        })
    }

    fn chunk(&mut self, chunk: Chunk) -> Vec<StreamEvent> {
        if let Some(model) = chunk.model.filter(|m| !m.is_empty()) {
            self.model = model;
        }
        if let Some(id) = chunk.id.filter(|id| !id.is_empty()) {
            self.response_id = Some(id);
        }
        if let Some(usage) = chunk.usage {
            self.usage = usage.usage();
        }
        let choice = chunk.choices.and_then(|c| c.into_iter().next());
        let Some(choice) = choice else {
            return Vec::new();
        };
        if let Some(reason) = choice.finish_reason {
            self.finish_reason = Some(reason);
        }
        let delta = choice.delta.unwrap_or_default();
        let mut events = Vec::new();
        if let Some(text) = delta.reasoning_content.or(delta.reasoning) {
            events.push(StreamEvent::Reasoning(text));
        }
        if let Some(text) = delta.refusal.filter(|t| !t.is_empty()) {
            self.refused = true;
            events.push(StreamEvent::Refusal(text));
        }
        if let Some(text) = delta.content {
            events.push(StreamEvent::Text(text));
        }
        for fragment in delta.tool_calls {
            events.push(StreamEvent::ToolCall(self.call(fragment)));
        }
        events
    }

    /// A fragment of a call as the contract's delta: the first of each call
    /// carries its id (made up if the server gave none) and name.
    fn call(&mut self, fragment: CallFragment) -> ToolCallDelta {
        let key = fragment.index.unwrap_or(self.last_call);
        self.last_call = key;
        let (index, first) = self.calls.of(key);
        let function = fragment.function.unwrap_or(FunctionFragment {
            name: None,
            arguments: None,
        });
        ToolCallDelta {
            index,
            id: first.then(|| {
                fragment
                    .id
                    .filter(|id| !id.is_empty())
                    .unwrap_or_else(|| generated_id(index))
            }),
            name: if first {
                Some(function.name.unwrap_or_default())
            } else {
                None
            },
            arguments: function.arguments.unwrap_or_default(),
        }
    }
}

impl Decoder for ChunkDecoder {
    type Framing = Sse;

    fn frame(&mut self, event: SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        if event.data.trim() == "[DONE]" {
            return Ok(vec![self.end()]);
        }
        let malformed = |e| errors::malformed(VENDOR, e, event.data.as_bytes());
        let value: Value = serde_json::from_str(&event.data).map_err(malformed)?;
        if let Some(error) = value.get("error") {
            return Err(stream_error(&value, error, &event.data));
        }
        let chunk: Chunk = serde_json::from_value(value).map_err(malformed)?;
        Ok(self.chunk(chunk))
    }

    /// Some compatible servers end without `[DONE]`: a stream that said
    /// why it finished is whole.
    fn body_end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        Ok(self
            .finish_reason
            .is_some()
            .then(|| self.end())
            .into_iter()
            .collect())
    }
}

/// An error object mid-stream has no HTTP status: its `type` says which it
/// would have been.
fn stream_error(body: &Value, error: &Value, raw: &str) -> ProviderError {
    let field = |name: &str| error.get(name).and_then(Value::as_str).unwrap_or_default();
    let status = match (field("type"), field("code")) {
        (_, "rate_limit_exceeded") | ("rate_limit_error", _) => 429,
        ("invalid_request_error", _) => 400,
        ("authentication_error", _) => 401,
        ("permission_error", _) => 403,
        ("not_found_error", _) => 404,
        ("service_unavailable" | "overloaded_error", _) => 503,
        _ => 500,
    };
    classify(status, "error mid-stream", body, raw.as_bytes(), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmhost_plugin_sdk::stream::decode_pieces;
    use llmhost_plugin_sdk::types::FinishReason;

    const STREAM: &str = concat!(
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n",
        "data: [DONE]\n\n",
    );

    fn decode(pieces: &[&[u8]]) -> Result<llmhost_plugin_sdk::types::Completion, ProviderError> {
        decode_pieces(VENDOR, ChunkDecoder::new("gpt-4o-mini"), pieces)
    }

    #[test]
    fn deltas_finish_reason_and_the_last_usage_chunk_make_the_answer() {
        let bytes = STREAM.as_bytes();
        let answer = decode(&[&bytes[..100], &bytes[100..]]).unwrap();
        assert_eq!(answer.text, "Hello");
        assert_eq!(answer.finish_reason, FinishReason::Length);
        assert_eq!(answer.model, "gpt-4o-mini-2024-07-18");
        let usage = answer.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (9, 2));
        assert_eq!(answer.response_id.as_deref(), Some("chatcmpl-1"));
    }

    #[test]
    fn an_error_object_mid_stream_is_a_typed_error() {
        let cut = STREAM.find("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{},").unwrap();
        let error = "data: {\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n";
        let err = decode(&[&STREAM.as_bytes()[..cut], error.as_bytes()]).unwrap_err();
        assert!(
            matches!(&err, ProviderError::UpstreamError(m) if m.contains("mid-stream") && m.contains("had an error")),
            "{err:?}"
        );
        let limited = "data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"tokens\",\"code\":\"rate_limit_exceeded\"}}\n\n";
        assert!(matches!(
            decode(&[limited.as_bytes()]).unwrap_err(),
            ProviderError::RateLimited(_)
        ));
    }

    #[test]
    fn a_stream_without_its_end_or_with_a_chunk_that_is_not_json_fails() {
        let cut = STREAM.find("data: [DONE]").unwrap();
        // Without [DONE] but with a finish reason: whole (some servers).
        assert_eq!(decode(&[&STREAM.as_bytes()[..cut]]).unwrap().text, "Hello");
        let early = STREAM.find("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{},").unwrap();
        assert!(matches!(
            decode(&[&STREAM.as_bytes()[..early]]).unwrap_err(),
            ProviderError::UpstreamError(m) if m.contains("ended before")
        ));
        assert!(matches!(
            decode(&[b"data: {\"choices\": [\n\n"]).unwrap_err(),
            ProviderError::UpstreamError(m) if m.contains("malformed")
        ));
    }

    #[test]
    fn a_refusal_streams_as_a_refusal_and_finishes_as_content_filter() {
        let refusal = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"refusal\":\"\"},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"I can't help with that.\"},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let answer = decode(&[refusal.as_bytes()]).unwrap();
        assert_eq!(answer.text, "");
        assert_eq!(answer.refusal.as_deref(), Some("I can't help with that."));
        assert_eq!(answer.finish_reason, FinishReason::ContentFilter);
        assert_eq!(answer.model, "gpt-4o-mini");
        assert_eq!(answer.usage, None);
    }

    #[test]
    fn tool_call_fragments_reassemble_to_the_upstreams_calls() {
        let stream = concat!(
            "data: {\"id\":\"chatcmpl-7\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-7\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"ci\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-7\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ty\\\": \\\"Paris\\\"}\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-7\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-7\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let bytes = stream.as_bytes();
        let pieces: Vec<&[u8]> = bytes.chunks(7).collect();
        let answer = decode(&pieces).unwrap();
        assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
        assert_eq!(answer.tool_calls.len(), 2);
        assert_eq!(
            (
                answer.tool_calls[0].id.as_str(),
                answer.tool_calls[0].name.as_str()
            ),
            ("call_a", "get_weather")
        );
        assert_eq!(answer.tool_calls[0].arguments, "{\"city\": \"Paris\"}");
        assert_eq!(answer.tool_calls[1].arguments, "{}");
    }
}
