//! The Chat Completions request body: messages with their parts, tool
//! calls and tool results; tools and tool choice; response formats; every
//! sampling parameter the contract has; provider options merged last.
//!
//! Promises: every field of the request reaches the body or fails the call
//! naming it (a media part in a system or tool message, which the API
//! takes as text only).

use llmhost_plugin_sdk::json;
use llmhost_plugin_sdk::parts;
use llmhost_plugin_sdk::shared;
use llmhost_plugin_sdk::types::{
    ContentPart, Message, Params, ProviderError, Request, ResponseFormat, Role, ToolChoice,
    ToolDefinition,
};
use serde_json::{Map, Value, json};

pub const VENDOR: &str = "openai";

/// How the configured server wants some fields.
pub struct Options<'a> {
    /// The field that carries `max-tokens` (`max_tokens`, or
    /// `max_completion_tokens` for OpenAI's reasoning models).
    pub max_tokens_param: &'a str,
    /// Whether a streamed request asks for its usage in a last chunk.
    pub include_usage: bool,
}

/// The request body; a streamed one may ask for the usage in a last chunk.
pub fn request_body(
    request: &Request,
    options: &Options,
    stream: bool,
) -> Result<Vec<u8>, ProviderError> {
    let messages = request
        .messages
        .iter()
        .map(message)
        .collect::<Result<Vec<_>, _>>()?;
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
    params(&mut body, &request.params, options.max_tokens_param)?;
    body.insert("stream".into(), json!(stream));
    if stream && options.include_usage {
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    json::merge_options(VENDOR, &mut body, request.provider_options.as_deref())?;
    Ok(serde_json::to_vec(&Value::Object(body)).expect("JSON"))
}

fn message(message: &Message) -> Result<Value, ProviderError> {
    let mut out = Map::new();
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    out.insert("role".into(), json!(role));
    let content = match message.role {
        Role::User => content(&message.content),
        Role::System => json!(parts::only_text(
            VENDOR,
            "a system message",
            &message.content
        )?),
        Role::Tool => json!(parts::only_text(VENDOR, "a tool result", &message.content)?),
        // An assistant turn that only called tools has no content.
        Role::Assistant if message.content.is_empty() && !message.tool_calls.is_empty() => {
            Value::Null
        }
        Role::Assistant => {
            json!(parts::only_text(
                VENDOR,
                "an assistant message",
                &message.content
            )?)
        }
    };
    out.insert("content".into(), content);
    if !message.tool_calls.is_empty() {
        let calls: Vec<Value> = message
            .tool_calls
            .iter()
            .map(|c| {
                json!({"id": c.id, "type": "function",
                       "function": {"name": c.name, "arguments": c.arguments}})
            })
            .collect();
        out.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(id) = &message.tool_call_id {
        out.insert("tool_call_id".into(), json!(id));
    }
    if let Some(name) = &message.name {
        out.insert("name".into(), json!(name));
    }
    Ok(Value::Object(out))
}

/// A user turn: a string when it is text only, else the API's parts.
fn content(content: &[ContentPart]) -> Value {
    if content.iter().all(|p| matches!(p, ContentPart::Text(_))) {
        return json!(parts::text(content));
    }
    let parts: Vec<Value> = content
        .iter()
        .map(|part| match part {
            ContentPart::Text(text) => json!({"type": "text", "text": text}),
            ContentPart::Media(media) => {
                let mut image = Map::new();
                image.insert("url".into(), json!(parts::url(media)));
                if let Some(detail) = &media.detail {
                    image.insert("detail".into(), json!(detail));
                }
                json!({"type": "image_url", "image_url": image})
            }
        })
        .collect();
    Value::Array(parts)
}

fn tool(tool: &ToolDefinition) -> Result<Value, ProviderError> {
    let mut function = Map::new();
    function.insert("name".into(), json!(tool.name));
    if let Some(description) = &tool.description {
        function.insert("description".into(), json!(description));
    }
    if let Some(parameters) = &tool.parameters {
        let what = format!("tool {:?} parameters", tool.name);
        let schema = json::object(VENDOR, &what, parameters)?;
        function.insert("parameters".into(), Value::Object(schema));
    }
    if let Some(strict) = tool.strict {
        function.insert("strict".into(), json!(strict));
    }
    Ok(json!({"type": "function", "function": function}))
}

fn params(
    body: &mut Map<String, Value>,
    params: &Params,
    max_tokens_param: &str,
) -> Result<(), ProviderError> {
    let mut set = |key: &str, value: Value| {
        body.insert(key.into(), value);
    };
    if let Some(n) = params.max_tokens {
        set(max_tokens_param, json!(n));
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
    if let Some(effort) = params.reasoning_effort {
        set("reasoning_effort", json!(shared::effort(effort)));
    }
    if let Some(user) = &params.user {
        set("user", json!(user));
    }
    if let Some(choice) = &params.tool_choice {
        set("tool_choice", tool_choice(choice));
    }
    if let Some(parallel) = params.parallel_tool_calls {
        set("parallel_tool_calls", json!(parallel));
    }
    if let Some(format) = &params.response_format {
        set("response_format", response_format(format)?);
    }
    Ok(())
}

fn tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Named(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

fn response_format(format: &ResponseFormat) -> Result<Value, ProviderError> {
    Ok(match format {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema(format) => {
            let what = format!("response format {:?} schema", format.name);
            let mut schema = Map::new();
            schema.insert("name".into(), json!(format.name));
            if let Some(description) = &format.description {
                schema.insert("description".into(), json!(description));
            }
            let parsed = json::object(VENDOR, &what, &format.schema)?;
            schema.insert("schema".into(), Value::Object(parsed));
            if let Some(strict) = format.strict {
                schema.insert("strict".into(), json!(strict));
            }
            json!({"type": "json_schema", "json_schema": schema})
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmhost_plugin_sdk::types::{JsonSchemaFormat, MediaPart, MediaSource, ToolCall};

    use llmhost_plugin_sdk::answer::{message, request};

    fn body(request: &Request, stream: bool, include_usage: bool) -> Value {
        let options = Options {
            max_tokens_param: "max_completion_tokens",
            include_usage,
        };
        serde_json::from_slice(&request_body(request, &options, stream).unwrap()).unwrap()
    }

    fn text(t: &str) -> ContentPart {
        ContentPart::Text(t.into())
    }

    #[test]
    fn a_streamed_request_asks_for_usage_unless_told_not_to() {
        let mut request = request("m", vec![message(Role::User, vec![text("hi")])]);
        request.params.max_tokens = Some(5);
        request.params.temperature = Some(0.9);
        let streamed = body(&request, true, true);
        assert_eq!(streamed["stream"], true);
        assert_eq!(streamed["stream_options"], json!({"include_usage": true}));
        assert_eq!(streamed["max_completion_tokens"], 5);
        assert_eq!(streamed["temperature"].to_string(), "0.9");
        assert_eq!(
            streamed["messages"],
            json!([{"role": "user", "content": "hi"}])
        );
        assert!(body(&request, true, false).get("stream_options").is_none());
        assert_eq!(body(&request, false, true)["stream"], false);
        assert!(body(&request, false, true).get("stream_options").is_none());
    }

    #[test]
    fn tools_calls_and_results_go_in_the_apis_shapes() {
        let mut assistant = message(Role::Assistant, vec![]);
        assistant.tool_calls = vec![ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: "{\"city\":\"Paris\"}".into(),
        }];
        let mut result = message(Role::Tool, vec![text("22C")]);
        result.tool_call_id = Some("call_1".into());
        let mut request = request(
            "m",
            vec![
                message(Role::User, vec![text("weather?")]),
                assistant,
                result,
            ],
        );
        request.tools = vec![ToolDefinition {
            name: "get_weather".into(),
            description: Some("Weather of a city".into()),
            parameters: Some(r#"{"type":"object","properties":{"city":{"type":"string"}}}"#.into()),
            strict: Some(true),
        }];
        request.params.tool_choice = Some(ToolChoice::Named("get_weather".into()));
        request.params.parallel_tool_calls = Some(false);
        let body = body(&request, false, false);
        assert_eq!(
            body["tools"],
            json!([{"type": "function", "function": {"name": "get_weather",
                "description": "Weather of a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "strict": true}}])
        );
        assert_eq!(
            body["tool_choice"],
            json!({"type": "function", "function": {"name": "get_weather"}})
        );
        assert_eq!(body["parallel_tool_calls"], false);
        assert_eq!(
            body["messages"][1],
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1",
                "type": "function", "function": {"name": "get_weather",
                "arguments": "{\"city\":\"Paris\"}"}}]})
        );
        assert_eq!(
            body["messages"][2],
            json!({"role": "tool", "content": "22C", "tool_call_id": "call_1"})
        );
    }

    #[test]
    fn images_schemas_and_sampling_fields_are_all_sent() {
        let image = ContentPart::Media(MediaPart {
            media_type: "image/png".into(),
            source: MediaSource::Bytes(vec![1, 2, 3]),
            detail: Some("low".into()),
            name: None,
        });
        let mut user = message(Role::User, vec![text("what is this?"), image]);
        user.name = Some("ann".into());
        let mut request = request("m", vec![user]);
        request.params.seed = Some(7);
        request.params.presence_penalty = Some(0.5);
        request.params.frequency_penalty = Some(-0.25);
        request.params.reasoning_effort = Some(llmhost_plugin_sdk::types::ReasoningEffort::Low);
        request.params.user = Some("u-1".into());
        request.params.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: "answer".into(),
            description: None,
            schema: r#"{"type":"object"}"#.into(),
            strict: Some(true),
        }));
        request.provider_options = Some(r#"{"service_tier": "flex"}"#.into());
        let body = body(&request, false, false);
        assert_eq!(
            body["messages"][0],
            json!({"role": "user", "name": "ann", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AQID", "detail": "low"}}]})
        );
        assert_eq!(
            body["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "answer",
                "schema": {"type": "object"}, "strict": true}})
        );
        for (field, value) in [
            ("seed", json!(7)),
            ("presence_penalty", json!(0.5)),
            ("frequency_penalty", json!(-0.25)),
            ("reasoning_effort", json!("low")),
            ("user", json!("u-1")),
            ("service_tier", json!("flex")),
        ] {
            assert_eq!(body[field], value, "{field}");
        }
    }

    #[test]
    fn media_in_a_tool_result_or_bad_schema_json_is_refused_by_name() {
        let image = ContentPart::Media(MediaPart {
            media_type: "image/png".into(),
            source: MediaSource::Url("https://x/y.png".into()),
            detail: None,
            name: None,
        });
        let mut result = message(Role::Tool, vec![image]);
        result.tool_call_id = Some("c".into());
        let options = Options {
            max_tokens_param: "max_tokens",
            include_usage: false,
        };
        let err = request_body(&request("m", vec![result]), &options, false).unwrap_err();
        assert!(matches!(&err, ProviderError::Unsupported(m) if m.contains("tool result")));
        let mut bad = request("m", vec![message(Role::User, vec![text("hi")])]);
        bad.tools = vec![ToolDefinition {
            name: "f".into(),
            description: None,
            parameters: Some("{".into()),
            strict: None,
        }];
        let err = request_body(&bad, &options, false).unwrap_err();
        assert!(matches!(&err, ProviderError::InvalidRequest(m) if m.contains("tool \"f\"")));
    }
}
