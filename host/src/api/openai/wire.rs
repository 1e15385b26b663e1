//! OpenAI's Chat Completions answers on the wire: whole completions,
//! stream chunks (text, `reasoning_content` and `tool_calls` pieces), usage
//! with its details, and the model list. The
//! request is `request.rs`.

use serde::Serialize;

use llmhost_store::task::ToolCall;

#[derive(Debug, Serialize)]
pub(crate) struct ChatCompletion {
    pub(crate) id: String,
    pub(crate) object: &'static str,
    pub(crate) created: i64,
    pub(crate) model: String,
    pub(crate) choices: Vec<Choice>,
    pub(crate) usage: Option<ChatUsage>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Choice {
    pub(crate) index: u32,
    pub(crate) message: AssistantMessage,
    pub(crate) finish_reason: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct AssistantMessage {
    pub(crate) role: &'static str,
    /// Null when the model only called tools, as OpenAI answers.
    pub(crate) content: Option<String>,
    pub(crate) refusal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tool_calls: Option<Vec<FunctionCallOut>>,
    /// The model's reasoning, where DeepSeek, vLLM and LiteLLM put it;
    /// absent when the provider returned none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reasoning_content: Option<String>,
    /// llmhost's extension: what the provider needs back with this message
    /// in the next turn. The SDKs keep unknown fields, so a client that
    /// appends the message to its conversation sends it back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) provider_state: Option<String>,
}

/// A tool call in OpenAI's shape.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct FunctionCallOut {
    pub(crate) id: String,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) function: FunctionOut,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct FunctionOut {
    pub(crate) name: String,
    pub(crate) arguments: String,
}

impl From<ToolCall> for FunctionCallOut {
    fn from(call: ToolCall) -> Self {
        Self {
            id: call.id,
            kind: "function",
            function: FunctionOut {
                name: call.name,
                arguments: call.arguments,
            },
        }
    }
}

/// A piece of a streamed tool call: the first piece of a call carries its
/// id, type and name; later ones add argument fragments.
#[derive(Debug, Serialize)]
pub(crate) struct ToolCallPiece {
    pub(crate) index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<&'static str>,
    pub(crate) function: FunctionPiece,
}

#[derive(Debug, Serialize)]
pub(crate) struct FunctionPiece {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    pub(crate) arguments: String,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct ChatUsage {
    pub(crate) prompt_tokens: u32,
    pub(crate) completion_tokens: u32,
    pub(crate) total_tokens: u32,
    /// Present when the provider reported cache reads or writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) prompt_tokens_details: Option<PromptTokensDetails>,
    /// Present when the provider reported reasoning tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) completion_tokens_details: Option<CompletionTokensDetails>,
}

/// Of `prompt_tokens`: OpenAI's `cached_tokens`, and the prompt-cache
/// writes some vendors bill apart, named as OpenRouter names them.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct PromptTokensDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cached_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cache_write_tokens: Option<u32>,
}

/// Of `completion_tokens`: those spent on reasoning.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct CompletionTokensDetails {
    pub(crate) reasoning_tokens: u32,
}

/// One `chat.completion.chunk` of a stream.
#[derive(Debug, Serialize)]
pub(crate) struct ChatChunk<'a> {
    pub(crate) id: &'a str,
    pub(crate) object: &'static str,
    pub(crate) created: i64,
    pub(crate) model: &'a str,
    pub(crate) choices: Vec<ChunkChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) usage: Option<ChatUsage>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ChunkChoice<'a> {
    pub(crate) index: u32,
    pub(crate) delta: Delta<'a>,
    pub(crate) finish_reason: Option<&'a str>,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refusal: Option<&'a str>,
    /// A piece of the model's reasoning (see `AssistantMessage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tool_calls: Option<Vec<ToolCallPiece>>,
    /// llmhost's extension, on the last chunk: the answer's
    /// `provider_state` (see `AssistantMessage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) provider_state: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ModelList {
    pub(crate) object: &'static str,
    pub(crate) data: Vec<Model>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Model {
    pub(crate) id: String,
    pub(crate) object: &'static str,
    pub(crate) created: i64,
    pub(crate) owned_by: String,
}
