//! The Messages API request body: the system prompt apart; turns of
//! content blocks (text, images as base64 or URL, `tool_use` for the
//! assistant's calls, `tool_result` for their results, the thinking blocks
//! an earlier answer handed back as its provider state); tools and tool
//! choice; structured output (`output_config.format`, a JSON schema the API
//! enforces); reasoning effort as an extended-thinking budget; `user` as
//! `metadata.user_id`; provider options merged last.
//!
//! Promises: every field of the request reaches the body or fails the call
//! naming it (a media part in a system message, a thinking budget that does
//! not fit `max-tokens`).

use llmhost_plugin_sdk::json;
use llmhost_plugin_sdk::parts;
use llmhost_plugin_sdk::shared;
use llmhost_plugin_sdk::types::{
    ContentPart, MediaSource, Message, Params, ProviderError, ReasoningEffort, Request,
    ResponseFormat, Role, ToolChoice, ToolDefinition,
};
use serde_json::{Map, Value, json};

pub const VENDOR: &str = "anthropic";
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// The body of a request; `default_max_tokens` when the request sets none
/// (the API requires `max_tokens`).
pub fn request_body(
    request: &Request,
    default_max_tokens: u32,
    stream: bool,
) -> Result<Vec<u8>, ProviderError> {
    let params = &request.params;
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    let budget = params.reasoning_effort.and_then(thinking_budget);
    body.insert(
        "max_tokens".into(),
        json!(max_tokens(params, default_max_tokens, budget)?),
    );
    body.insert("messages".into(), messages(&request.messages)?);
    let system = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| parts::only_text(VENDOR, "a system message", &m.content))
        .collect::<Result<Vec<_>, _>>()?;
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(tool)
            .collect::<Result<Vec<_>, _>>()?;
        body.insert("tools".into(), Value::Array(tools));
    }
    sampling(&mut body, params, budget)?;
    if stream {
        body.insert("stream".into(), json!(true));
    }
    json::merge_options(VENDOR, &mut body, request.provider_options.as_deref())?;
    Ok(serde_json::to_vec(&Value::Object(body)).expect("JSON"))
}

/// Extended thinking's budget for an effort; `None` turns thinking off.
fn thinking_budget(effort: ReasoningEffort) -> Option<u32> {
    match effort {
        ReasoningEffort::None => None,
        // The API's minimum budget.
        ReasoningEffort::Minimal => Some(1024),
        ReasoningEffort::Low => Some(4096),
        ReasoningEffort::Medium => Some(10_000),
        ReasoningEffort::High => Some(16_000),
        ReasoningEffort::Xhigh => Some(32_000),
    }
}

/// The budget counts against `max_tokens`, which must exceed it: an asked
/// limit that does not is refused; the default grows by the budget.
fn max_tokens(params: &Params, default: u32, budget: Option<u32>) -> Result<u32, ProviderError> {
    match (params.max_tokens, budget) {
        (Some(asked), Some(budget)) if asked <= budget => {
            Err(ProviderError::InvalidRequest(format!(
                "{VENDOR}: max-tokens {asked} must exceed the thinking budget {budget} of the reasoning effort"
            )))
        }
        (Some(asked), _) => Ok(asked),
        (None, Some(budget)) => Ok(budget.saturating_add(default)),
        (None, None) => Ok(default),
    }
}

fn sampling(
    body: &mut Map<String, Value>,
    params: &Params,
    budget: Option<u32>,
) -> Result<(), ProviderError> {
    if let Some(t) = params.temperature {
        body.insert("temperature".into(), shared::float(t));
    }
    if let Some(p) = params.top_p {
        body.insert("top_p".into(), shared::float(p));
    }
    if !params.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(params.stop));
    }
    match (params.reasoning_effort, budget) {
        (Some(_), Some(budget)) => {
            body.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
        }
        (Some(_), None) => {
            body.insert("thinking".into(), json!({"type": "disabled"}));
        }
        _ => {}
    }
    if let Some(user) = &params.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if let Some(choice) = tool_choice(params) {
        body.insert("tool_choice".into(), choice);
    }
    match &params.response_format {
        None | Some(ResponseFormat::Text) => {}
        // The API enforces the schema, so `strict` either way is honoured;
        // it has no place for the schema's name and description, which
        // only label it.
        Some(ResponseFormat::JsonSchema(format)) => {
            let what = format!("response format {:?} schema", format.name);
            let schema = json::object(VENDOR, &what, &format.schema)?;
            body.insert(
                "output_config".into(),
                json!({"format": {"type": "json_schema", "schema": schema}}),
            );
        }
        Some(ResponseFormat::JsonObject) => {
            return Err(ProviderError::Unsupported(format!(
                "{VENDOR}: response format json-object (give a JSON schema)"
            )));
        }
    }
    Ok(())
}

/// `tool_choice`, with `disable_parallel_tool_use` when parallel calls are
/// turned off.
fn tool_choice(params: &Params) -> Option<Value> {
    let mut choice = match &params.tool_choice {
        None if params.parallel_tool_calls.is_none() => return None,
        None | Some(ToolChoice::Auto) => json!({"type": "auto"}),
        Some(ToolChoice::None) => json!({"type": "none"}),
        Some(ToolChoice::Required) => json!({"type": "any"}),
        Some(ToolChoice::Named(name)) => json!({"type": "tool", "name": name}),
    };
    if let Some(parallel) = params.parallel_tool_calls {
        choice["disable_parallel_tool_use"] = json!(!parallel);
    }
    Some(choice)
}

fn tool(tool: &ToolDefinition) -> Result<Value, ProviderError> {
    let schema = match &tool.parameters {
        Some(parameters) => {
            let what = format!("tool {:?} parameters", tool.name);
            Value::Object(json::object(VENDOR, &what, parameters)?)
        }
        // The API requires a schema: no arguments is an empty object.
        None => json!({"type": "object", "properties": {}}),
    };
    let mut out = Map::new();
    out.insert("name".into(), json!(tool.name));
    if let Some(description) = &tool.description {
        out.insert("description".into(), json!(description));
    }
    out.insert("input_schema".into(), schema);
    if let Some(strict) = tool.strict {
        out.insert("strict".into(), json!(strict));
    }
    Ok(Value::Object(out))
}

/// The turns, system messages left out (they are `system`). Tool results
/// are `user` turns; consecutive turns of one role are merged into one, as
/// the API wants every result of a turn's calls in the next user turn.
fn messages(messages: &[Message]) -> Result<Value, ProviderError> {
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for message in messages.iter().filter(|m| m.role != Role::System) {
        if message.name.is_some() {
            return Err(ProviderError::Unsupported(format!(
                "{VENDOR}: a message's name"
            )));
        }
        let (role, blocks) = match message.role {
            Role::Assistant => ("assistant", assistant_blocks(message)?),
            Role::Tool => ("user", vec![tool_result(message)]),
            _ => ("user", blocks(&message.content)),
        };
        match turns.last_mut() {
            Some((last, before)) if *last == role => before.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    Ok(turns
        .into_iter()
        .map(|(role, blocks)| json!({"role": role, "content": simplified(blocks)}))
        .collect())
}

/// One text block is sent as a plain string, the API's short form.
fn simplified(blocks: Vec<Value>) -> Value {
    match blocks.as_slice() {
        [only] if only["type"] == "text" => only["text"].clone(),
        _ => Value::Array(blocks),
    }
}

fn blocks(content: &[ContentPart]) -> Vec<Value> {
    content
        .iter()
        .map(|part| match part {
            ContentPart::Text(text) => json!({"type": "text", "text": text}),
            ContentPart::Media(media) => {
                let source = match &media.source {
                    MediaSource::Url(url) => json!({"type": "url", "url": url}),
                    MediaSource::Bytes(bytes) => json!({"type": "base64",
                        "media_type": media.media_type, "data": parts::base64(bytes)}),
                };
                json!({"type": "image", "source": source})
            }
        })
        .collect()
}

/// The thinking blocks handed back (the API wants them, signed, before the
/// calls they led to), the text, the calls.
fn assistant_blocks(message: &Message) -> Result<Vec<Value>, ProviderError> {
    let mut out = match &message.provider_state {
        Some(state) => match json::parse(VENDOR, "the provider state", state)? {
            Value::Array(blocks) => blocks,
            _ => {
                return Err(ProviderError::InvalidRequest(format!(
                    "{VENDOR}: the provider state is not one this plugin returned"
                )));
            }
        },
        None => Vec::new(),
    };
    let text = parts::only_text(VENDOR, "an assistant message", &message.content)?;
    if !text.is_empty() {
        out.push(json!({"type": "text", "text": text}));
    }
    for call in &message.tool_calls {
        let what = format!("tool call {:?} arguments", call.id);
        let input = json::object(VENDOR, &what, &call.arguments)?;
        out.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}));
    }
    Ok(out)
}

fn tool_result(message: &Message) -> Value {
    let id = message.tool_call_id.clone().unwrap_or_default();
    json!({"type": "tool_result", "tool_use_id": id, "content": blocks(&message.content)})
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
        serde_json::from_slice(&request_body(request, 1024, false).unwrap()).unwrap()
    }

    #[test]
    fn a_tool_round_trip_is_tool_use_then_merged_tool_results() {
        let mut assistant = message(Role::Assistant, vec![text("Let me look.")]);
        assistant.tool_calls = vec![
            ToolCall {
                id: "toolu_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            },
            ToolCall {
                id: "toolu_2".into(),
                name: "get_time".into(),
                arguments: String::new(),
            },
        ];
        let result = |id: &str, t: &str| {
            let mut m = message(Role::Tool, vec![text(t)]);
            m.tool_call_id = Some(id.into());
            m
        };
        let mut request = request(
            "claude",
            vec![
                message(Role::System, vec![text("Be brief.")]),
                message(Role::User, vec![text("Weather and time?")]),
                assistant,
                result("toolu_1", "22C"),
                result("toolu_2", "noon"),
            ],
        );
        request.tools = vec![ToolDefinition {
            name: "get_time".into(),
            description: None,
            parameters: None,
            strict: None,
        }];
        request.params.tool_choice = Some(ToolChoice::Required);
        request.params.parallel_tool_calls = Some(false);
        let body = body(&request);
        assert_eq!(body["system"], "Be brief.");
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": "Weather and time?"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "22C"}]},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "noon"}]}]}
            ])
        );
        assert_eq!(
            body["tools"],
            json!([{"name": "get_time", "input_schema": {"type": "object", "properties": {}}}])
        );
        assert_eq!(
            body["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
    }

    #[test]
    fn images_schema_reasoning_and_user_take_the_apis_places() {
        let image = |source| {
            ContentPart::Media(MediaPart {
                media_type: "image/jpeg".into(),
                source,
                detail: None,
                name: None,
            })
        };
        let mut request = request(
            "claude",
            vec![message(
                Role::User,
                vec![
                    image(MediaSource::Bytes(vec![255, 216])),
                    image(MediaSource::Url("https://x/cat.jpg".into())),
                    text("What are these?"),
                ],
            )],
        );
        request.params.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: "animals".into(),
            description: None,
            schema: r#"{"type":"object","properties":{"names":{"type":"array"}}}"#.into(),
            strict: Some(true),
        }));
        request.params.reasoning_effort = Some(ReasoningEffort::Low);
        request.params.user = Some("u-1".into());
        let body = body(&request);
        assert_eq!(
            body["messages"][0]["content"],
            json!([
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9g="}},
                {"type": "image", "source": {"type": "url", "url": "https://x/cat.jpg"}},
                {"type": "text", "text": "What are these?"}])
        );
        assert_eq!(
            body["output_config"],
            json!({"format": {"type": "json_schema", "schema": {"type": "object", "properties": {"names": {"type": "array"}}}}})
        );
        assert_eq!(
            body["thinking"],
            json!({"type": "enabled", "budget_tokens": 4096})
        );
        assert_eq!(body["max_tokens"], 4096 + 1024);
        assert_eq!(body["metadata"], json!({"user_id": "u-1"}));
    }

    #[test]
    fn a_thinking_budget_over_max_tokens_json_object_and_names_are_refused() {
        let mut asked = request("claude", vec![message(Role::User, vec![text("hi")])]);
        asked.params.max_tokens = Some(100);
        asked.params.reasoning_effort = Some(ReasoningEffort::Minimal);
        assert!(matches!(
            request_body(&asked, 1024, false).unwrap_err(),
            ProviderError::InvalidRequest(m) if m.contains("max-tokens 100")
        ));
        let mut object = request("claude", vec![message(Role::User, vec![text("hi")])]);
        object.params.response_format = Some(ResponseFormat::JsonObject);
        assert!(matches!(
            request_body(&object, 1024, false).unwrap_err(),
            ProviderError::Unsupported(m) if m.contains("json-object")
        ));
        let mut named = message(Role::User, vec![text("hi")]);
        named.name = Some("ann".into());
        assert!(request_body(&request("claude", vec![named]), 1024, false).is_err());
    }

    #[test]
    fn the_provider_state_of_an_answer_goes_back_before_its_calls() {
        let mut assistant = message(Role::Assistant, vec![]);
        assistant.provider_state =
            Some(r#"[{"type":"thinking","thinking":"hmm","signature":"sig"}]"#.into());
        assistant.tool_calls = vec![ToolCall {
            id: "t".into(),
            name: "f".into(),
            arguments: "{}".into(),
        }];
        let body = body(&request("claude", vec![assistant]));
        assert_eq!(
            body["messages"][0]["content"],
            json!([{"type": "thinking", "thinking": "hmm", "signature": "sig"},
                   {"type": "tool_use", "id": "t", "name": "f", "input": {}}])
        );
    }
}
