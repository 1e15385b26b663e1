//! Echo's answers, by model: deterministic, from the request alone.

use serde_json::json;

use crate::llmhost::provider::types::{
    Completion, ContentPart, FinishReason, MediaSource, Message, ReasoningEffort, Request,
    ResponseFormat, Role, ToolCall, ToolChoice, Usage,
};
use crate::schema;

/// The answer of `request.model`.
pub(crate) fn answer(request: Request) -> Completion {
    let prompt = last_user_message(&request.messages).unwrap_or_default();
    let mut completion = base(&request, prompt.clone());
    match request.model.as_str() {
        "echo-tools" => tools(&request, &prompt, &mut completion),
        "echo-json" => json(&request, &prompt, &mut completion),
        "echo-vision" => completion.text = describe_media(&request.messages),
        "echo-think" => think(&request, &prompt, &mut completion),
        "echo-agent-drip" => {
            think(&request, &prompt, &mut completion);
            tools(&request, &prompt, &mut completion);
        }
        _ => {}
    }
    let usage = completion.usage.as_mut().expect("base sets usage");
    usage.output_tokens = count_words(
        [completion.text.as_str()]
            .into_iter()
            .chain(completion.reasoning.as_deref())
            .chain(completion.tool_calls.iter().map(|t| t.arguments.as_str())),
    );
    usage.reasoning_tokens = completion.reasoning.as_deref().map(|r| count_words([r]));
    completion
}

/// Reasoning naming the effort, usage with cache reads and writes, and
/// provider state (`think_state`).
fn think(request: &Request, prompt: &str, completion: &mut Completion) {
    let effort = request
        .params
        .reasoning_effort
        .map_or("default", effort_name);
    completion.reasoning = Some(format!(
        "The user said {prompt:?}; echoing it (effort: {effort})."
    ));
    // As a prompt cache would: the system messages read from it, the
    // rest of the conversation before the last user message written to it.
    let last_user = request
        .messages
        .iter()
        .rposition(|m| m.role == Role::User)
        .unwrap_or(0);
    let earlier = &request.messages[..last_user];
    let words_of = |system: bool| {
        let texts: Vec<String> = earlier
            .iter()
            .filter(|m| (m.role == Role::System) == system)
            .map(text_of)
            .collect();
        count_words(texts.iter().map(String::as_str))
    };
    let usage = completion.usage.as_mut().expect("base sets usage");
    usage.cached_input_tokens = Some(words_of(true));
    usage.cache_write_input_tokens = Some(words_of(false));
    think_state(&request.messages, prompt, completion);
}

fn base(request: &Request, text: String) -> Completion {
    let input: Vec<String> = request.messages.iter().map(text_of).collect();
    Completion {
        usage: Some(Usage {
            input_tokens: count_words(input.iter().map(String::as_str)),
            output_tokens: 0,
            cached_input_tokens: None,
            cache_write_input_tokens: None,
            reasoning_tokens: None,
        }),
        text,
        reasoning: None,
        refusal: None,
        tool_calls: Vec::new(),
        finish_reason: FinishReason::Stop,
        model: request.model.clone(),
        response_id: None,
        provider_state: None,
    }
}

/// A tool result answers; else the chosen tool is called; else a response
/// format is followed; else the prompt is echoed.
fn tools(request: &Request, prompt: &str, completion: &mut Completion) {
    if let Some(last) = request.messages.last()
        && last.role == Role::Tool
    {
        let called = last.tool_call_id.as_deref().and_then(|id| {
            request
                .messages
                .iter()
                .flat_map(|m| &m.tool_calls)
                .find(|call| call.id == id)
        });
        let tool = called.map_or("the tool", |call| call.name.as_str());
        completion.text = format!("{tool} answered: {}", text_of(last));
        return;
    }
    let chosen = match &request.params.tool_choice {
        Some(ToolChoice::None) => None,
        Some(ToolChoice::Named(name)) => request.tools.iter().find(|t| &t.name == name),
        _ => request.tools.first(),
    };
    let Some(tool) = chosen else {
        return json(request, prompt, completion);
    };
    let parameters = tool
        .parameters
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    completion.text.clear();
    completion.tool_calls.push(ToolCall {
        id: "call_echo_0".into(),
        name: tool.name.clone(),
        arguments: schema::example(&parameters, prompt).to_string(),
    });
    completion.finish_reason = FinishReason::ToolCalls;
}

fn json(request: &Request, prompt: &str, completion: &mut Completion) {
    match &request.params.response_format {
        Some(ResponseFormat::JsonSchema(format)) => {
            let schema = serde_json::from_str(&format.schema).unwrap_or(json!({}));
            completion.text = schema::example(&schema, prompt).to_string();
        }
        // A prompt that is a JSON object is answered as is (as a model told
        // the shape would); any other prompt is wrapped.
        Some(ResponseFormat::JsonObject) => {
            completion.text = match serde_json::from_str::<serde_json::Value>(prompt) {
                Ok(object) if object.is_object() => object.to_string(),
                _ => json!({"echo": prompt}).to_string(),
            }
        }
        Some(ResponseFormat::Text) | None => {}
    }
}

/// `image/png, 68 bytes; image/* at https://…`, then the text parts.
fn describe_media(messages: &[Message]) -> String {
    let Some(last) = messages.iter().rev().find(|m| m.role == Role::User) else {
        return String::new();
    };
    let images: Vec<String> = last
        .content
        .iter()
        .filter_map(|part| match part {
            ContentPart::Media(media) => Some(match &media.source {
                MediaSource::Bytes(bytes) => format!("{}, {} bytes", media.media_type, bytes.len()),
                MediaSource::Url(url) => format!("{} at {url}", media.media_type),
            }),
            ContentPart::Text(_) => None,
        })
        .collect();
    format!(
        "{} image(s): {}. Text: {}",
        images.len(),
        images.join("; "),
        text_of(last)
    )
}

/// Like a vendor's signed reasoning: the answer carries state naming its
/// prompt, and the state an earlier answer handed back is acknowledged in
/// the text, so a test sees it make the round trip.
fn think_state(messages: &[Message], prompt: &str, completion: &mut Completion) {
    completion.provider_state = Some(format!("echo-think:{prompt}"));
    let back: Vec<&str> = messages
        .iter()
        .filter_map(|m| m.provider_state.as_deref())
        .collect();
    if !back.is_empty() {
        completion.text = format!("{prompt} (state given back: {})", back.join(", "));
    }
}

fn effort_name(effort: ReasoningEffort) -> &'static str {
    match effort {
        ReasoningEffort::None => "none",
        ReasoningEffort::Minimal => "minimal",
        ReasoningEffort::Low => "low",
        ReasoningEffort::Medium => "medium",
        ReasoningEffort::High => "high",
        ReasoningEffort::Xhigh => "xhigh",
    }
}

fn last_user_message(messages: &[Message]) -> Option<String> {
    messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(text_of)
}

/// A message's text parts, concatenated.
pub(crate) fn text_of(message: &Message) -> String {
    message
        .content
        .iter()
        .filter_map(|part| match part {
            ContentPart::Text(text) => Some(text.as_str()),
            ContentPart::Media(_) => None,
        })
        .collect()
}

/// Whitespace-separated words stand in for tokens: deterministic and cheap.
pub(crate) fn count_words<'a>(texts: impl IntoIterator<Item = &'a str>) -> u32 {
    let words: usize = texts
        .into_iter()
        .map(|t| t.split_whitespace().count())
        .sum();
    u32::try_from(words).unwrap_or(u32::MAX)
}
