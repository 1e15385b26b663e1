//! A task's input as the contract's request: text and image parts (a
//! `data:` URL becomes bytes with its media type, an `https:` URL stays a
//! URL), tool calls and results, tools, and every parameter. What cannot be
//! expressed (another URL scheme, a malformed `data:` URL or schema) is a
//! `Refusal` naming the field; what the model may use is `capability`'s
//! question, asked next.

use base64::Engine as _;
use llmhost_runtime as runtime;
use llmhost_store::task::{
    Content, Message, Params, Part, ReasoningEffort, ResponseFormat, Role, TaskInput, ToolChoice,
    ToolMode,
};

use crate::capability::Refusal;

pub(crate) fn request(model: &str, input: &TaskInput) -> Result<runtime::Request, Refusal> {
    let messages = input
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| message(i, m))
        .collect::<Result<_, _>>()?;
    let tools = input
        .tools
        .iter()
        .map(|t| runtime::ToolDefinition {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters: t.parameters.as_ref().map(ToString::to_string),
            strict: t.strict,
        })
        .collect();
    Ok(runtime::Request {
        model: model.to_owned(),
        messages,
        tools,
        params: params(&input.params),
        provider_options: None,
    })
}

fn message(index: usize, m: &Message) -> Result<runtime::Message, Refusal> {
    let content = match &m.content {
        // Only an assistant message (that calls tools) may leave it out.
        None if m.role != Role::Assistant => {
            return Err(Refusal::invalid(
                format!("messages[{index}].content"),
                "missing: only an assistant message may have none",
            ));
        }
        None => Vec::new(),
        Some(Content::Text(text)) if text.is_empty() => Vec::new(),
        Some(Content::Text(text)) => vec![runtime::ContentPart::Text(text.clone())],
        Some(Content::Parts(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, part)| content_part(&format!("messages[{index}].content[{j}]"), part))
            .collect::<Result<_, _>>()?,
    };
    Ok(runtime::Message {
        role: match m.role {
            Role::System => runtime::Role::System,
            Role::User => runtime::Role::User,
            Role::Assistant => runtime::Role::Assistant,
            Role::Tool => runtime::Role::Tool,
        },
        content,
        tool_calls: m
            .tool_calls
            .iter()
            .map(|t| runtime::ToolCall {
                id: t.id.clone(),
                name: t.name.clone(),
                arguments: t.arguments.clone(),
            })
            .collect(),
        tool_call_id: m.tool_call_id.clone(),
        name: m.name.clone(),
        provider_state: m.provider_state.clone(),
    })
}

fn content_part(param: &str, part: &Part) -> Result<runtime::ContentPart, Refusal> {
    match part {
        Part::Text { text } => Ok(runtime::ContentPart::Text(text.clone())),
        Part::ImageUrl { image_url } => {
            let (media_type, source) = image_source(param, &image_url.url)?;
            Ok(runtime::ContentPart::Media(runtime::MediaPart {
                media_type,
                source,
                detail: image_url.detail.clone(),
                name: None,
            }))
        }
    }
}

/// An `https:` URL (its type unknown: `image/*`) or a base64 `data:` URL.
fn image_source(param: &str, url: &str) -> Result<(String, runtime::MediaSource), Refusal> {
    let refuse = |why: &str| Err(Refusal::invalid(format!("{param}.image_url.url"), why));
    if url.starts_with("https://") {
        return Ok(("image/*".into(), runtime::MediaSource::Url(url.to_owned())));
    }
    let Some(rest) = url.strip_prefix("data:") else {
        return refuse("an image URL must be https: or a data: URL");
    };
    let Some((meta, data)) = rest.split_once(',') else {
        return refuse("a data: URL needs a comma before its data");
    };
    let Some(media_type) = meta.strip_suffix(";base64") else {
        return refuse("only base64 data: URLs are accepted (data:<media type>;base64,<data>)");
    };
    if !media_type.starts_with("image/") {
        return refuse("the data: URL's media type must be image/<type>");
    }
    match base64::engine::general_purpose::STANDARD.decode(data) {
        Ok(bytes) => Ok((media_type.to_owned(), runtime::MediaSource::Bytes(bytes))),
        Err(e) => refuse(&format!("the data: URL is not valid base64: {e}")),
    }
}

fn params(p: &Params) -> runtime::Params {
    runtime::Params {
        max_tokens: p.max_tokens,
        temperature: p.temperature,
        top_p: p.top_p,
        stop: p.stop.clone(),
        seed: p.seed,
        presence_penalty: p.presence_penalty,
        frequency_penalty: p.frequency_penalty,
        reasoning_effort: p.reasoning_effort.map(|e| match e {
            ReasoningEffort::None => runtime::ReasoningEffort::None,
            ReasoningEffort::Minimal => runtime::ReasoningEffort::Minimal,
            ReasoningEffort::Low => runtime::ReasoningEffort::Low,
            ReasoningEffort::Medium => runtime::ReasoningEffort::Medium,
            ReasoningEffort::High => runtime::ReasoningEffort::High,
            ReasoningEffort::Xhigh => runtime::ReasoningEffort::Xhigh,
        }),
        user: p.user.clone(),
        response_format: p.response_format.as_ref().map(|f| match f {
            ResponseFormat::Text => runtime::ResponseFormat::Text,
            ResponseFormat::JsonObject => runtime::ResponseFormat::JsonObject,
            ResponseFormat::JsonSchema { json_schema } => {
                runtime::ResponseFormat::JsonSchema(runtime::JsonSchemaFormat {
                    name: json_schema.name.clone(),
                    description: json_schema.description.clone(),
                    schema: json_schema.schema.to_string(),
                    strict: json_schema.strict,
                })
            }
        }),
        tool_choice: p.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Mode(ToolMode::Auto) => runtime::ToolChoice::Auto,
            ToolChoice::Mode(ToolMode::None) => runtime::ToolChoice::None,
            ToolChoice::Mode(ToolMode::Required) => runtime::ToolChoice::Required,
            ToolChoice::Named { name } => runtime::ToolChoice::Named(name.clone()),
        }),
        parallel_tool_calls: p.parallel_tool_calls,
    }
}
