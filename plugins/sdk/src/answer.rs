//! Small constructors for the contract's records: descriptions and
//! capabilities, answers, and requests (for tests).

use crate::bindings::llmhost::provider::types::{
    Capabilities, Completion, ContentPart, Features, FinishReason, Message, ModelInfo, Params,
    ProviderInfo, Request, Role,
};

/// A provider description with no listed models, text only (set
/// `capabilities` for more).
pub fn info(name: &str, version: &str, description: &str) -> ProviderInfo {
    ProviderInfo {
        name: name.into(),
        version: version.into(),
        description: description.into(),
        models: vec![],
        capabilities: text_only(),
    }
}

/// Capabilities: `features`, and the media types accepted (patterns such as
/// `image/*`; none for text only).
pub fn capabilities(features: Features, input_media: &[&str]) -> Capabilities {
    Capabilities {
        features,
        input_media: input_media.iter().map(|m| (*m).to_owned()).collect(),
    }
}

/// Text only, no optional feature: what a provider that declares nothing
/// honours.
pub fn text_only() -> Capabilities {
    capabilities(Features::empty(), &[])
}

/// A listed model with the provider's capabilities.
pub fn model(id: &str, description: &str) -> ModelInfo {
    ModelInfo {
        id: id.into(),
        description: description.into(),
        capabilities: None,
        context_window: None,
    }
}

/// A listed model with capabilities of its own.
pub fn model_with(id: &str, description: &str, capabilities: Capabilities) -> ModelInfo {
    ModelInfo {
        capabilities: Some(capabilities),
        ..model(id, description)
    }
}

/// A finished answer of text only, without usage.
pub fn text(text: String, model: String) -> Completion {
    Completion {
        text,
        reasoning: None,
        refusal: None,
        tool_calls: vec![],
        finish_reason: FinishReason::Stop,
        usage: None,
        model,
        response_id: None,
        provider_state: None,
    }
}

/// A message of `role` with `content` and nothing else.
pub fn message(role: Role, content: Vec<ContentPart>) -> Message {
    Message {
        role,
        content,
        tool_calls: vec![],
        tool_call_id: None,
        name: None,
        provider_state: None,
    }
}

/// Parameters with every field absent.
pub fn params() -> Params {
    Params {
        max_tokens: None,
        temperature: None,
        top_p: None,
        stop: vec![],
        seed: None,
        presence_penalty: None,
        frequency_penalty: None,
        reasoning_effort: None,
        user: None,
        response_format: None,
        tool_choice: None,
        parallel_tool_calls: None,
    }
}

/// A request for `model` of `messages`, with no tools, parameters or
/// options (tests build on it).
pub fn request(model: &str, messages: Vec<Message>) -> Request {
    Request {
        model: model.into(),
        messages,
        tools: vec![],
        params: params(),
        provider_options: None,
    }
}
