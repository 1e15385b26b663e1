//! The `generateContent` answer (and each chunk of a stream): the first
//! candidate's parts (`text`, `thought` text as reasoning, `functionCall`
//! as tool calls), its finish reason, the usage with cached and thinking
//! counts, the response id; parts carrying thought signatures are kept
//! whole as the provider state. A blocked prompt is `content-filtered`.

use llmhost_plugin_sdk::tools::generated_id;
use llmhost_plugin_sdk::types::{Completion, FinishReason, ProviderError, ToolCall, Usage};
use llmhost_plugin_sdk::{errors, json, shared};
use serde::Deserialize;
use serde_json::Value;

use crate::wire::VENDOR;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    #[serde(default)]
    candidates: Vec<Candidate>,
    prompt_feedback: Option<PromptFeedback>,
    usage_metadata: Option<UsageMetadata>,
    model_version: Option<String>,
    response_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<Content>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    thoughts_token_count: Option<u64>,
    cached_content_token_count: Option<u64>,
}

/// A function call as the API gives it: a tool call once numbered.
pub struct Call {
    pub id: Option<String>,
    pub name: String,
    pub arguments: String,
}

impl Call {
    /// The call numbered `index` in its answer; its id, or one made up.
    pub fn numbered(self, index: u32) -> ToolCall {
        ToolCall {
            id: self
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| generated_id(index)),
            name: self.name,
            arguments: self.arguments,
        }
    }
}

/// What one response (or one chunk of a stream) says.
pub struct Answer {
    /// Whether there was a candidate (a stream's last chunk may only count
    /// tokens).
    pub candidate: bool,
    pub text: String,
    pub reasoning: String,
    pub calls: Vec<Call>,
    /// The parts as sent, for the provider state.
    pub parts: Vec<Value>,
    /// Whether a part carries a thought signature (then the parts are the
    /// provider state).
    pub signed: bool,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    pub model_version: Option<String>,
    pub response_id: Option<String>,
}

impl GenerateContentResponse {
    /// The first candidate; a blocked prompt is `content-filtered`.
    pub fn answer(self) -> Result<Answer, ProviderError> {
        let block_reason = self.prompt_feedback.and_then(|f| f.block_reason);
        if let (true, Some(reason)) = (self.candidates.is_empty(), block_reason) {
            return Err(ProviderError::ContentFiltered(format!(
                "{VENDOR}: the prompt was blocked: {reason}"
            )));
        }
        let usage = self.usage_metadata.and_then(|u| {
            let output = match (u.candidates_token_count, u.thoughts_token_count) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            };
            let mut usage = shared::usage(u.prompt_token_count, output)?;
            usage.cached_input_tokens = u.cached_content_token_count.map(shared::count);
            usage.reasoning_tokens = u.thoughts_token_count.map(shared::count);
            Some(usage)
        });
        let candidate = self.candidates.into_iter().next();
        let present = candidate.is_some();
        let (content, finish_reason) = candidate
            .map(|c| (c.content, c.finish_reason))
            .unwrap_or((None, None));
        let parts = content.map(|c| c.parts).unwrap_or_default();
        let mut answer = Answer {
            candidate: present,
            text: String::new(),
            reasoning: String::new(),
            calls: Vec::new(),
            signed: parts.iter().any(|p| p.get("thoughtSignature").is_some()),
            parts: Vec::new(),
            finish_reason,
            usage,
            model_version: self.model_version.filter(|m| !m.is_empty()),
            response_id: self.response_id,
        };
        for part in &parts {
            let text = part["text"].as_str();
            match (text, part.get("functionCall")) {
                (Some(text), _) if part["thought"] == true => answer.reasoning.push_str(text),
                (Some(text), _) => answer.text.push_str(text),
                (None, Some(call)) => answer.calls.push(Call {
                    id: call["id"].as_str().map(str::to_owned),
                    name: call["name"].as_str().unwrap_or_default().to_owned(),
                    arguments: json::text(
                        call.get("args")
                            .unwrap_or(&Value::Object(Default::default())),
                    ),
                }),
                _ => {}
            }
        }
        answer.parts = parts;
        Ok(answer)
    }
}

pub fn finish_reason(reason: Option<&str>, calls_tool: bool) -> FinishReason {
    match reason {
        _ if calls_tool => FinishReason::ToolCalls,
        Some("RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY") => {
            FinishReason::ContentFilter
        }
        // STOP, MAX_TOKENS, SAFETY; anything else is "other".
        reason => shared::finish_reason(reason),
    }
}

/// A whole 2xx answer.
pub fn parse_response(model: &str, body: &[u8]) -> Result<Completion, ProviderError> {
    let parsed: GenerateContentResponse =
        serde_json::from_slice(body).map_err(|e| errors::malformed(VENDOR, e, body))?;
    let answer = parsed.answer()?;
    if !answer.candidate {
        return Err(ProviderError::UpstreamError(format!(
            "{VENDOR}: the response has no candidates"
        )));
    }
    let calls = answer.calls.len();
    Ok(Completion {
        text: answer.text,
        reasoning: (!answer.reasoning.is_empty()).then_some(answer.reasoning),
        refusal: None,
        tool_calls: answer
            .calls
            .into_iter()
            .zip(0..)
            .map(|(call, i)| call.numbered(i))
            .collect(),
        finish_reason: finish_reason(answer.finish_reason.as_deref(), calls > 0),
        usage: answer.usage,
        model: answer.model_version.unwrap_or_else(|| model.to_owned()),
        response_id: answer.response_id,
        provider_state: answer
            .signed
            .then(|| json::text(&Value::Array(answer.parts))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_calls_thoughts_signatures_and_usage_are_read() {
        let body = br#"{"candidates": [{"content": {"role": "model", "parts": [
              {"text": "Thinking about weather", "thought": true},
              {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
              {"functionCall": {"id": "fc-2", "name": "get_time", "args": {}}}]},
            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 10, "thoughtsTokenCount": 5, "cachedContentTokenCount": 8},
            "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"}"#;
        let answer = parse_response("gemini-2.5-flash", body).unwrap();
        assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
        assert_eq!(answer.reasoning.as_deref(), Some("Thinking about weather"));
        assert_eq!(answer.tool_calls[0].id, "call_0");
        assert_eq!(answer.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!(answer.tool_calls[1].id, "fc-2");
        assert_eq!(answer.response_id.as_deref(), Some("resp-1"));
        assert!(answer.provider_state.unwrap().contains("c2ln"));
        let usage = answer.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (20, 15));
        assert_eq!(
            (usage.cached_input_tokens, usage.reasoning_tokens),
            (Some(8), Some(5))
        );
    }
}
