//! Ollama's `/api/chat` request body: messages with their text, `images`
//! (base64), the assistant's `tool_calls` and tool results named by
//! `tool_name`; `tools`; `format` (`json` or a JSON schema, which Ollama
//! enforces); `think`; the sampling `options` (with seed and penalties);
//! provider options merged last.
//!
//! Promises: every field of the request reaches the body or fails the call
//! naming it (Ollama has no tool choice, no strict tools, no media URLs).

use llmhost_plugin_sdk::json;
use llmhost_plugin_sdk::parts;
use llmhost_plugin_sdk::shared;
use llmhost_plugin_sdk::types::{
    ContentPart, MediaSource, Message, Params, ProviderError, ReasoningEffort, Request,
    ResponseFormat, Role, ToolChoice, ToolDefinition,
};
use serde_json::{Map, Value, json};

pub const VENDOR: &str = "ollama";

pub fn request_body(request: &Request, stream: bool) -> Result<Vec<u8>, ProviderError> {
    let messages = (0..request.messages.len())
        .map(|at| message(&request.messages, at))
        .collect::<Result<Vec<_>, _>>()?;
    let params = &request.params;
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(tool)
            .collect::<Result<Vec<_>, _>>()?;
        body.insert("tools".into(), Value::Array(tools));
    }
    match &params.tool_choice {
        None | Some(ToolChoice::Auto) => {}
        Some(_) => {
            return Err(ProviderError::Unsupported(format!(
                "{VENDOR}: a tool choice other than auto"
            )));
        }
    }
    body.insert("stream".into(), json!(stream));
    if let Some(format) = &params.response_format
        && let Some(format) = response_format(format)?
    {
        body.insert("format".into(), format);
    }
    if let Some(effort) = params.reasoning_effort {
        body.insert("think".into(), think(effort)?);
    }
    let options = options(params);
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    json::merge_options(VENDOR, &mut body, request.provider_options.as_deref())?;
    Ok(serde_json::to_vec(&Value::Object(body)).expect("JSON"))
}

fn message(messages: &[Message], at: usize) -> Result<Value, ProviderError> {
    let message = &messages[at];
    if message.name.is_some() {
        return Err(ProviderError::Unsupported(format!(
            "{VENDOR}: a message's name"
        )));
    }
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut out = Map::new();
    out.insert("role".into(), json!(role));
    out.insert("content".into(), json!(parts::text(&message.content)));
    let images = images(&message.content)?;
    if !images.is_empty() {
        out.insert("images".into(), json!(images));
    }
    if !message.tool_calls.is_empty() {
        let calls = message
            .tool_calls
            .iter()
            .map(|call| {
                let what = format!("tool call {:?} arguments", call.id);
                let arguments = json::object(VENDOR, &what, &call.arguments)?;
                Ok(json!({"function": {"name": call.name, "arguments": arguments}}))
            })
            .collect::<Result<Vec<_>, ProviderError>>()?;
        out.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(id) = &message.tool_call_id {
        out.insert(
            "tool_name".into(),
            json!(parts::tool_name(VENDOR, messages, at, id)?),
        );
    }
    Ok(Value::Object(out))
}

/// The message's images as base64, in order.
fn images(content: &[ContentPart]) -> Result<Vec<String>, ProviderError> {
    content
        .iter()
        .filter_map(|part| match part {
            ContentPart::Text(_) => None,
            ContentPart::Media(media) => Some(match &media.source {
                MediaSource::Bytes(bytes) => Ok(parts::base64(bytes)),
                MediaSource::Url(_) => Err(ProviderError::Unsupported(format!(
                    "{VENDOR}: media by URL (send the bytes)"
                ))),
            }),
        })
        .collect()
}

fn tool(tool: &ToolDefinition) -> Result<Value, ProviderError> {
    if tool.strict == Some(true) {
        return Err(ProviderError::Unsupported(format!(
            "{VENDOR}: strict tool {:?} (Ollama does not enforce tool schemas)",
            tool.name
        )));
    }
    let mut function = Map::new();
    function.insert("name".into(), json!(tool.name));
    if let Some(description) = &tool.description {
        function.insert("description".into(), json!(description));
    }
    let parameters = match &tool.parameters {
        Some(parameters) => {
            let what = format!("tool {:?} parameters", tool.name);
            Value::Object(json::object(VENDOR, &what, parameters)?)
        }
        None => json!({"type": "object", "properties": {}}),
    };
    function.insert("parameters".into(), parameters);
    Ok(json!({"type": "function", "function": function}))
}

/// `format`: `json`, or the schema itself (Ollama constrains the output to
/// it, so `strict` either way is honoured).
fn response_format(format: &ResponseFormat) -> Result<Option<Value>, ProviderError> {
    Ok(match format {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(json!("json")),
        ResponseFormat::JsonSchema(format) => {
            let what = format!("response format {:?} schema", format.name);
            Some(Value::Object(json::object(VENDOR, &what, &format.schema)?))
        }
    })
}

/// `think`: off for `none`, the level for `low`, `medium` and `high` (which
/// models that think take); Ollama has no `minimal` or `xhigh`.
fn think(effort: ReasoningEffort) -> Result<Value, ProviderError> {
    Ok(match effort {
        ReasoningEffort::None => json!(false),
        ReasoningEffort::Low => json!("low"),
        ReasoningEffort::Medium => json!("medium"),
        ReasoningEffort::High => json!("high"),
        other => {
            return Err(ProviderError::Unsupported(format!(
                "{VENDOR}: reasoning effort {}",
                shared::effort(other)
            )));
        }
    })
}

fn options(params: &Params) -> Map<String, Value> {
    let mut options = Map::new();
    let mut set = |key: &str, value: Value| {
        options.insert(key.into(), value);
    };
    if let Some(n) = params.max_tokens {
        set("num_predict", json!(n));
    }
    if let Some(t) = params.temperature {
        set("temperature", shared::float(t));
    }
    if let Some(p) = params.top_p {
        set("top_p", shared::float(p));
    }
    if !params.stop.is_empty() {
        set("stop", json!(params.stop));
    }
    if let Some(seed) = params.seed {
        set("seed", json!(seed));
    }
    if let Some(p) = params.presence_penalty {
        set("presence_penalty", shared::float(p));
    }
    if let Some(p) = params.frequency_penalty {
        set("frequency_penalty", shared::float(p));
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmhost_plugin_sdk::answer::{message, request};
    use llmhost_plugin_sdk::types::{JsonSchemaFormat, MediaPart, ToolCall};

    fn text(t: &str) -> ContentPart {
        ContentPart::Text(t.into())
    }

    fn body(request: &Request) -> Value {
        serde_json::from_slice(&request_body(request, false).unwrap()).unwrap()
    }

    #[test]
    fn tools_calls_results_images_format_and_think_take_ollamas_places() {
        let image = ContentPart::Media(MediaPart {
            media_type: "image/png".into(),
            source: MediaSource::Bytes(vec![1, 2, 3]),
            detail: None,
            name: None,
        });
        let mut assistant = message(Role::Assistant, vec![]);
        assistant.tool_calls = vec![ToolCall {
            id: "call_0".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        }];
        let mut result = message(Role::Tool, vec![text("22C")]);
        result.tool_call_id = Some("call_0".into());
        let mut request = request(
            "llama3.2",
            vec![
                message(Role::User, vec![text("Weather here?"), image]),
                assistant,
                result,
            ],
        );
        request.tools = vec![ToolDefinition {
            name: "get_weather".into(),
            description: None,
            parameters: Some(r#"{"type":"object"}"#.into()),
            strict: None,
        }];
        request.params.seed = Some(3);
        request.params.reasoning_effort = Some(ReasoningEffort::None);
        request.params.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: "w".into(),
            description: None,
            schema: r#"{"type":"object","properties":{"t":{"type":"number"}}}"#.into(),
            strict: Some(true),
        }));
        let body = body(&request);
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": "Weather here?", "images": ["AQID"]},
                {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                {"role": "tool", "content": "22C", "tool_name": "get_weather"}
            ])
        );
        assert_eq!(
            body["tools"],
            json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}])
        );
        assert_eq!(
            body["format"],
            json!({"type": "object", "properties": {"t": {"type": "number"}}})
        );
        assert_eq!(body["think"], false);
        assert_eq!(body["options"], json!({"seed": 3}));
    }

    #[test]
    fn tool_choice_strict_tools_and_unknown_efforts_are_refused() {
        let mut chosen = request("m", vec![message(Role::User, vec![text("hi")])]);
        chosen.params.tool_choice = Some(ToolChoice::Required);
        assert!(
            matches!(request_body(&chosen, false).unwrap_err(), ProviderError::Unsupported(m) if m.contains("tool choice"))
        );
        let mut xhigh = request("m", vec![message(Role::User, vec![text("hi")])]);
        xhigh.params.reasoning_effort = Some(ReasoningEffort::Xhigh);
        assert!(
            matches!(request_body(&xhigh, false).unwrap_err(), ProviderError::Unsupported(m) if m.contains("xhigh"))
        );
        let mut object = request("m", vec![message(Role::User, vec![text("hi")])]);
        object.params.response_format = Some(ResponseFormat::JsonObject);
        assert_eq!(body(&object)["format"], "json");
    }
}
