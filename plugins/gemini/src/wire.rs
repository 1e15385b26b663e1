//! The `generateContent` request body (which `streamGenerateContent`
//! shares): turns of parts (text, inline image data, `functionCall` for the
//! model's calls, `functionResponse` for their results, or the parts an
//! earlier answer handed back as its provider state, thought signatures
//! included); system messages as `systemInstruction`; tools as function
//! declarations with JSON-schema parameters; the function-calling mode;
//! `generationConfig` (sampling, seed, penalties, JSON output with
//! `responseJsonSchema`, a thinking budget); provider options merged last.
//!
//! Promises: every field of the request reaches the body or fails the call
//! naming it (a strict tool, which the API cannot enforce; media by URL or
//! in a tool result).

use llmhost_plugin_sdk::json;
use llmhost_plugin_sdk::parts;
use llmhost_plugin_sdk::shared;
use llmhost_plugin_sdk::types::{
    ContentPart, MediaSource, Message, Params, ProviderError, ReasoningEffort, Request,
    ResponseFormat, Role, ToolChoice, ToolDefinition,
};
use serde_json::{Map, Value, json};

pub const VENDOR: &str = "gemini";

/// The model's path segment: `gemini-2.5-flash` or `models/gemini-2.5-flash`.
pub fn model_path(model: &str) -> Result<&str, ProviderError> {
    let name = model.strip_prefix("models/").unwrap_or(model);
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if valid {
        Ok(name)
    } else {
        Err(ProviderError::InvalidRequest(format!(
            "{VENDOR}: not a model name: {model:?}"
        )))
    }
}

pub fn request_body(request: &Request) -> Result<Vec<u8>, ProviderError> {
    let system = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| Ok(json!({"text": parts::only_text(VENDOR, "a system message", &m.content)?})))
        .collect::<Result<Vec<_>, ProviderError>>()?;
    let mut body = Map::new();
    body.insert("contents".into(), contents(&request.messages)?);
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    if !request.tools.is_empty() {
        let declarations = request
            .tools
            .iter()
            .map(declaration)
            .collect::<Result<Vec<_>, _>>()?;
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
    }
    if let Some(choice) = &request.params.tool_choice {
        body.insert("toolConfig".into(), tool_config(choice));
    }
    let config = generation_config(&request.params)?;
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    json::merge_options(VENDOR, &mut body, request.provider_options.as_deref())?;
    Ok(serde_json::to_vec(&Value::Object(body)).expect("JSON"))
}

/// Roles `user` and `model`; tool results are `user` turns, and
/// consecutive turns of one role are merged (the API wants every response
/// to a turn's calls in one turn).
fn contents(messages: &[Message]) -> Result<Value, ProviderError> {
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for (at, message) in messages.iter().enumerate() {
        if message.name.is_some() {
            return Err(ProviderError::Unsupported(format!(
                "{VENDOR}: a message's name"
            )));
        }
        let (role, parts) = match message.role {
            Role::System => continue,
            Role::User => ("user", user_parts(&message.content)?),
            Role::Assistant => ("model", model_parts(message)?),
            Role::Tool => ("user", vec![function_response(messages, at)?]),
        };
        match turns.last_mut() {
            Some((last, before)) if *last == role => before.extend(parts),
            _ => turns.push((role, parts)),
        }
    }
    Ok(turns
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect())
}

fn user_parts(content: &[ContentPart]) -> Result<Vec<Value>, ProviderError> {
    content
        .iter()
        .map(|part| match part {
            ContentPart::Text(text) => Ok(json!({"text": text})),
            ContentPart::Media(media) => match &media.source {
                MediaSource::Bytes(bytes) => Ok(json!({"inlineData": {
                    "mimeType": media.media_type, "data": parts::base64(bytes)}})),
                MediaSource::Url(_) => Err(ProviderError::Unsupported(format!(
                    "{VENDOR}: media by URL (send the bytes)"
                ))),
            },
        })
        .collect()
}

/// The parts an answer handed back as its state (thought signatures
/// included, as the API wants them), or its text and calls.
fn model_parts(message: &Message) -> Result<Vec<Value>, ProviderError> {
    if let Some(state) = &message.provider_state {
        return match json::parse(VENDOR, "the provider state", state)? {
            Value::Array(parts) => Ok(parts),
            _ => Err(ProviderError::InvalidRequest(format!(
                "{VENDOR}: the provider state is not one this plugin returned"
            ))),
        };
    }
    let mut out = Vec::new();
    let text = parts::only_text(VENDOR, "an assistant message", &message.content)?;
    if !text.is_empty() {
        out.push(json!({"text": text}));
    }
    for call in &message.tool_calls {
        let what = format!("tool call {:?} arguments", call.id);
        let args = json::object(VENDOR, &what, &call.arguments)?;
        // Gemini pairs calls and responses by name and order; the ids are
        // llmhost's (made up when Gemini gave none), so they stay here.
        out.push(json!({"functionCall": {"name": call.name, "args": args}}));
    }
    Ok(out)
}

/// A tool result, named by the call it answers; its text is the response
/// object when it is one, else `{"result": …}` (the API wants an object).
fn function_response(messages: &[Message], at: usize) -> Result<Value, ProviderError> {
    let message = &messages[at];
    let id = message.tool_call_id.as_deref().unwrap_or_default();
    let name = parts::tool_name(VENDOR, messages, at, id)?;
    let text = parts::only_text(VENDOR, "a tool result", &message.content)?;
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(object)) => Value::Object(object),
        Ok(other) => json!({"result": other}),
        Err(_) => json!({"result": text}),
    };
    Ok(json!({"functionResponse": {"name": name, "response": response}}))
}

fn declaration(tool: &ToolDefinition) -> Result<Value, ProviderError> {
    if tool.strict == Some(true) {
        return Err(ProviderError::Unsupported(format!(
            "{VENDOR}: strict tool {:?} (the API does not enforce tool schemas)",
            tool.name
        )));
    }
    let mut out = Map::new();
    out.insert("name".into(), json!(tool.name));
    if let Some(description) = &tool.description {
        out.insert("description".into(), json!(description));
    }
    if let Some(parameters) = &tool.parameters {
        let what = format!("tool {:?} parameters", tool.name);
        let schema = json::object(VENDOR, &what, parameters)?;
        out.insert("parametersJsonSchema".into(), Value::Object(schema));
    }
    Ok(Value::Object(out))
}

fn tool_config(choice: &ToolChoice) -> Value {
    let config = match choice {
        ToolChoice::Auto => json!({"mode": "AUTO"}),
        ToolChoice::None => json!({"mode": "NONE"}),
        ToolChoice::Required => json!({"mode": "ANY"}),
        ToolChoice::Named(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
    };
    json!({"functionCallingConfig": config})
}

/// A thinking budget per effort; `none` turns thinking off.
fn thinking_budget(effort: ReasoningEffort) -> u32 {
    match effort {
        ReasoningEffort::None => 0,
        ReasoningEffort::Minimal => 512,
        ReasoningEffort::Low => 1024,
        ReasoningEffort::Medium => 8192,
        ReasoningEffort::High => 24_576,
        ReasoningEffort::Xhigh => 32_768,
    }
}

fn generation_config(params: &Params) -> Result<Map<String, Value>, ProviderError> {
    let mut config = Map::new();
    let mut set = |key: &str, value: Value| {
        config.insert(key.into(), value);
    };
    if let Some(n) = params.max_tokens {
        set("maxOutputTokens", json!(n));
    }
    if let Some(t) = params.temperature {
        set("temperature", shared::float(t));
    }
    if let Some(p) = params.top_p {
        set("topP", shared::float(p));
    }
    if !params.stop.is_empty() {
        set("stopSequences", json!(params.stop));
    }
    if let Some(seed) = params.seed {
        set("seed", json!(seed));
    }
    if let Some(p) = params.presence_penalty {
        set("presencePenalty", shared::float(p));
    }
    if let Some(p) = params.frequency_penalty {
        set("frequencyPenalty", shared::float(p));
    }
    if let Some(effort) = params.reasoning_effort {
        let budget = thinking_budget(effort);
        set(
            "thinkingConfig",
            json!({"thinkingBudget": budget, "includeThoughts": budget > 0}),
        );
    }
    match &params.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => set("responseMimeType", json!("application/json")),
        // The API enforces the schema (strict either way); the name and
        // description only label it.
        Some(ResponseFormat::JsonSchema(format)) => {
            let what = format!("response format {:?} schema", format.name);
            let schema = json::object(VENDOR, &what, &format.schema)?;
            set("responseMimeType", json!("application/json"));
            set("responseJsonSchema", Value::Object(schema));
        }
    }
    Ok(config)
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
        serde_json::from_slice(&request_body(request).unwrap()).unwrap()
    }

    #[test]
    fn a_tool_round_trip_is_function_call_then_function_responses_by_name() {
        let mut model = message(Role::Assistant, vec![]);
        model.tool_calls = vec![ToolCall {
            id: "call_0".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        }];
        let mut result = message(Role::Tool, vec![text(r#"{"temp": 22}"#)]);
        result.tool_call_id = Some("call_0".into());
        let mut plain = message(Role::Tool, vec![text("sunny")]);
        plain.tool_call_id = Some("call_0".into());
        let mut request = request(
            "gemini-2.5-flash",
            vec![
                message(Role::User, vec![text("Weather?")]),
                model,
                result,
                plain,
            ],
        );
        request.tools = vec![ToolDefinition {
            name: "get_weather".into(),
            description: Some("Weather".into()),
            parameters: Some(r#"{"type":"object","properties":{"city":{"type":"string"}}}"#.into()),
            strict: None,
        }];
        request.params.tool_choice = Some(ToolChoice::Named("get_weather".into()));
        let body = body(&request);
        assert_eq!(
            body["contents"],
            json!([
                {"role": "user", "parts": [{"text": "Weather?"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"temp": 22}}},
                    {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}}]}
            ])
        );
        assert_eq!(
            body["tools"],
            json!([{"functionDeclarations": [{"name": "get_weather", "description": "Weather",
                "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}}}]}])
        );
        assert_eq!(
            body["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
        );
    }

    #[test]
    fn images_schema_seed_penalties_and_thinking_go_in_generation_config() {
        let image = ContentPart::Media(MediaPart {
            media_type: "image/png".into(),
            source: MediaSource::Bytes(vec![1, 2, 3]),
            detail: None,
            name: None,
        });
        let mut request = request(
            "gemini-2.5-flash",
            vec![message(Role::User, vec![text("What is it?"), image])],
        );
        request.params.seed = Some(42);
        request.params.presence_penalty = Some(0.5);
        request.params.frequency_penalty = Some(0.25);
        request.params.reasoning_effort = Some(ReasoningEffort::Low);
        request.params.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: "thing".into(),
            description: None,
            schema: r#"{"type":"object"}"#.into(),
            strict: Some(true),
        }));
        let body = body(&request);
        assert_eq!(
            body["contents"][0]["parts"][1],
            json!({"inlineData": {"mimeType": "image/png", "data": "AQID"}})
        );
        assert_eq!(
            body["generationConfig"],
            json!({"seed": 42, "presencePenalty": 0.5, "frequencyPenalty": 0.25,
                "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true},
                "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}})
        );
    }

    #[test]
    fn strict_tools_media_urls_and_results_for_unknown_calls_are_refused() {
        let mut strict = request("g", vec![message(Role::User, vec![text("hi")])]);
        strict.tools = vec![ToolDefinition {
            name: "f".into(),
            description: None,
            parameters: None,
            strict: Some(true),
        }];
        assert!(
            matches!(request_body(&strict).unwrap_err(), ProviderError::Unsupported(m) if m.contains("strict"))
        );
        let linked = ContentPart::Media(MediaPart {
            media_type: "image/png".into(),
            source: MediaSource::Url("https://x/y.png".into()),
            detail: None,
            name: None,
        });
        let url = request("g", vec![message(Role::User, vec![linked])]);
        assert!(
            matches!(request_body(&url).unwrap_err(), ProviderError::Unsupported(m) if m.contains("URL"))
        );
        let mut orphan = message(Role::Tool, vec![text("x")]);
        orphan.tool_call_id = Some("nope".into());
        assert!(matches!(
            request_body(&request("g", vec![orphan])).unwrap_err(),
            ProviderError::InvalidRequest(m) if m.contains("nope")
        ));
    }

    #[test]
    fn an_answers_state_is_sent_back_as_its_parts() {
        let mut model = message(Role::Assistant, vec![]);
        model.provider_state = Some(
            r#"[{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2ln"}]"#.into(),
        );
        let body = body(&request("g", vec![model]));
        assert_eq!(body["contents"][0]["parts"][0]["thoughtSignature"], "c2ln");
    }
}
