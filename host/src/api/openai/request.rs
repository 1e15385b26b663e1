//! OpenAI's Chat Completions request, read field by field into a task's
//! input. Every field of OpenAI's reference is honoured, accepted and
//! ignored only where that changes nothing about the answer (listed in
//! `IGNORED`, documented in the README), or refused with a `Refusal` that
//! names it; an unknown field is refused the same way. What the chosen
//! model may use is `capability`'s question, asked afterwards.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::capability::Refusal;
use llmhost_store::task::{
    Content, ImageUrl, JsonSchema, Message, Params, Part, ReasoningEffort, ResponseFormat, Role,
    TaskInput, Tool, ToolCall, ToolChoice, ToolMode,
};

/// Top-level fields accepted and ignored: they change nothing about the
/// answer llmhost gives (it stores nothing, has one service tier, keeps no
/// prompt cache of its own). `store: true` is refused, as llmhost cannot
/// store completions for OpenAI's dashboard.
pub(crate) const IGNORED: [&str; 5] = [
    "metadata",
    "service_tier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "store",
];

#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequest {
    /// `<provider>/<model>`.
    pub(crate) model: String,
    pub(crate) messages: Vec<ChatMessage>,
    #[serde(default)]
    pub(crate) stream: bool,
    #[serde(default)]
    pub(crate) stream_options: Option<StreamOptions>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    stop: Option<Stop>,
    #[serde(default)]
    tools: Option<Vec<FunctionTool>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    #[serde(default)]
    response_format: Option<Value>,
    #[serde(default)]
    seed: Option<i64>,
    #[serde(default)]
    user: Option<String>,
    /// OpenAI's newer name for `user`.
    #[serde(default)]
    safety_identifier: Option<String>,
    #[serde(default)]
    presence_penalty: Option<f64>,
    #[serde(default)]
    frequency_penalty: Option<f64>,
    #[serde(default)]
    reasoning_effort: Option<Value>,
    /// Every other field, each refused unless it changes nothing.
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    pub(crate) include_usage: bool,
    /// Padding against length side channels; llmhost sends none.
    #[serde(default)]
    #[expect(dead_code, reason = "accepted and ignored: llmhost adds no padding")]
    include_obfuscation: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatMessage {
    role: ChatRole,
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<FunctionCall>>,
    #[serde(default)]
    tool_call_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    /// llmhost's extension: an assistant message's `provider_state`, as
    /// the answer carried it (the SDKs send it back with the message).
    #[serde(default)]
    provider_state: Option<String>,
    /// An assistant message sent back as it was answered carries its
    /// reasoning here (DeepSeek's, vLLM's and LiteLLM's field). Accepted and
    /// not handed on: contract 0.2 has no place for it in a message (a
    /// provider that needs its reasoning back keeps it in
    /// `provider_state`). Refused on any other role.
    #[serde(default)]
    reasoning_content: Option<Value>,
    /// An assistant message sent back as the SDK returned it carries these
    /// as null or empty; anything else is refused.
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ChatRole {
    System,
    /// OpenAI's newer name for system instructions.
    Developer,
    User,
    Assistant,
    Tool,
}

#[derive(Debug, Deserialize)]
struct FunctionTool {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    function: Option<FunctionDefinition>,
}

#[derive(Debug, Deserialize)]
struct FunctionDefinition {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
    #[serde(default)]
    strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct FunctionCall {
    id: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    function: CalledFunction,
}

#[derive(Debug, Deserialize)]
struct CalledFunction {
    name: String,
    arguments: String,
}

impl ChatRequest {
    /// The conversation, tools and parameters in llmhost's terms.
    pub(crate) fn to_input(&self) -> Result<TaskInput, Refusal> {
        self.refuse_the_rest()?;
        let messages = self
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| m.to_message(i))
            .collect::<Result<_, _>>()?;
        let tools = match &self.tools {
            None => Vec::new(),
            Some(tools) => tools
                .iter()
                .enumerate()
                .map(|(i, t)| t.to_tool(i))
                .collect::<Result<_, _>>()?,
        };
        let stop = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
        };
        if self.user.is_some() && self.safety_identifier.is_some() {
            return Err(Refusal::invalid(
                "safety_identifier",
                "give user or safety_identifier, not both",
            ));
        }
        let params = Params {
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
            temperature: self.temperature,
            top_p: self.top_p,
            stop,
            seed: self.seed,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            reasoning_effort: self
                .reasoning_effort
                .as_ref()
                .map(reasoning_effort)
                .transpose()?,
            user: self.user.clone().or_else(|| self.safety_identifier.clone()),
            response_format: self
                .response_format
                .as_ref()
                .map(response_format)
                .transpose()?,
            tool_choice: self.tool_choice.as_ref().map(tool_choice).transpose()?,
            parallel_tool_calls: self.parallel_tool_calls,
        };
        Ok(TaskInput {
            messages,
            tools,
            params,
        })
    }

    /// The field as this request named it: a refused `user` that came as
    /// `safety_identifier` is named so.
    pub(crate) fn own_name(&self, mut refusal: Refusal) -> Refusal {
        if refusal.param == "user" && self.user.is_none() && self.safety_identifier.is_some() {
            refusal.param = "safety_identifier".into();
        }
        refusal
    }

    /// Fields llmhost cannot honour: refused unless they ask for nothing
    /// (`n: 1`, `logprobs: false`, `modalities: ["text"]`, …).
    fn refuse_the_rest(&self) -> Result<(), Refusal> {
        for (field, value) in &self.other {
            let harmless = match field.as_str() {
                "store" => matches!(value, Value::Bool(false) | Value::Null),
                f if IGNORED.contains(&f) => true,
                "n" => value == &Value::from(1) || value.is_null(),
                "logprobs" => matches!(value, Value::Bool(false) | Value::Null),
                "top_logprobs" => value.is_null(),
                "logit_bias" => value.is_null() || value.as_object().is_some_and(|o| o.is_empty()),
                "modalities" => value.is_null() || value == &serde_json::json!(["text"]),
                _ => value.is_null() && KNOWN.contains(&field.as_str()),
            };
            if !harmless {
                let why = match field.as_str() {
                    "n" => "llmhost answers one choice; n must be 1",
                    "functions" | "function_call" => {
                        "deprecated by OpenAI: use tools and tool_choice"
                    }
                    f if KNOWN.contains(&f) => "not supported by llmhost",
                    _ => "not a Chat Completions field llmhost knows",
                };
                return Err(Refusal::unsupported(
                    field.clone(),
                    format!("{field}: {why}"),
                ));
            }
        }
        Ok(())
    }
}

/// OpenAI's fields that llmhost does not honour (refused unless null or,
/// for some, their no-op value).
const KNOWN: [&str; 11] = [
    "n",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "modalities",
    "audio",
    "prediction",
    "verbosity",
    "web_search_options",
    "functions",
    "function_call",
];

impl ChatMessage {
    fn to_message(&self, i: usize) -> Result<Message, Refusal> {
        for (field, value) in &self.other {
            let empty = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
            if !empty {
                return Err(Refusal::unsupported(
                    format!("messages[{i}].{field}"),
                    "not supported by llmhost",
                ));
            }
        }
        self.check_reasoning(i)?;
        let content = match &self.content {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(Content::Text(text.clone())),
            Some(Value::Array(parts)) => Some(Content::Parts(
                parts
                    .iter()
                    .enumerate()
                    .map(|(j, p)| part(&format!("messages[{i}].content[{j}]"), p))
                    .collect::<Result<_, _>>()?,
            )),
            Some(_) => {
                return Err(Refusal::invalid(
                    format!("messages[{i}].content"),
                    "must be a string or a list of parts",
                ));
            }
        };
        let tool_calls = self
            .tool_calls
            .iter()
            .flatten()
            .enumerate()
            .map(|(j, call)| match call.kind.as_deref() {
                None | Some("function") => Ok(ToolCall {
                    id: call.id.clone(),
                    name: call.function.name.clone(),
                    arguments: call.function.arguments.clone(),
                }),
                Some(other) => Err(Refusal::unsupported(
                    format!("messages[{i}].tool_calls[{j}].type"),
                    format!("{other:?} tool calls are not supported; only function"),
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(Message {
            role: match self.role {
                ChatRole::System | ChatRole::Developer => Role::System,
                ChatRole::User => Role::User,
                ChatRole::Assistant => Role::Assistant,
                ChatRole::Tool => Role::Tool,
            },
            content,
            tool_calls,
            tool_call_id: self.tool_call_id.clone(),
            name: self.name.clone(),
            provider_state: self.provider_state.clone(),
        })
    }
}

impl ChatMessage {
    /// `reasoning_content` belongs to an answer sent back: on an assistant
    /// message only (null counts as absent). `provider_state` is checked
    /// with the conversation, by `capability`.
    fn check_reasoning(&self, i: usize) -> Result<(), Refusal> {
        let reasoning = self.reasoning_content.as_ref().filter(|v| !v.is_null());
        if let Some(reasoning) = reasoning
            && !reasoning.is_string()
        {
            return Err(Refusal::invalid(
                format!("messages[{i}].reasoning_content"),
                "must be a string",
            ));
        }
        if reasoning.is_none() || matches!(self.role, ChatRole::Assistant) {
            return Ok(());
        }
        Err(Refusal::invalid(
            format!("messages[{i}].reasoning_content"),
            "reasoning_content is only accepted on an assistant message",
        ))
    }
}

fn part(param: &str, value: &Value) -> Result<Part, Refusal> {
    let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "text" => match value.get("text").and_then(Value::as_str) {
            Some(text) => Ok(Part::Text { text: text.into() }),
            None => Err(Refusal::invalid(
                format!("{param}.text"),
                "must be a string",
            )),
        },
        "image_url" => {
            let image = value.get("image_url");
            // OpenAI also accepts `image_url` as the URL string itself.
            let url = image
                .and_then(|i| i.get("url").or(Some(i)))
                .and_then(Value::as_str);
            let Some(url) = url else {
                return Err(Refusal::invalid(
                    format!("{param}.image_url.url"),
                    "must be a string",
                ));
            };
            let detail = image
                .and_then(|i| i.get("detail"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            Ok(Part::ImageUrl {
                image_url: ImageUrl {
                    url: url.into(),
                    detail,
                },
            })
        }
        other => Err(Refusal::unsupported(
            param,
            format!("{other:?} content parts are not supported; text and image_url are"),
        )),
    }
}

impl FunctionTool {
    fn to_tool(&self, i: usize) -> Result<Tool, Refusal> {
        let param = format!("tools[{i}]");
        match (&*self.kind, &self.function) {
            ("function", Some(f)) => Ok(Tool {
                name: f.name.clone(),
                description: f.description.clone(),
                parameters: f.parameters.clone(),
                strict: f.strict,
            }),
            ("function", None) => Err(Refusal::invalid(format!("{param}.function"), "missing")),
            (other, _) => Err(Refusal::unsupported(
                format!("{param}.type"),
                format!("{other:?} tools are not supported; only function"),
            )),
        }
    }
}

fn tool_choice(value: &Value) -> Result<ToolChoice, Refusal> {
    let named = value
        .get("function")
        .and_then(|f| f.get("name"))
        .and_then(Value::as_str);
    match (value.as_str(), named) {
        (Some("auto"), _) => Ok(ToolChoice::Mode(ToolMode::Auto)),
        (Some("none"), _) => Ok(ToolChoice::Mode(ToolMode::None)),
        (Some("required"), _) => Ok(ToolChoice::Mode(ToolMode::Required)),
        (None, Some(name)) if value.get("type").and_then(Value::as_str) == Some("function") => {
            Ok(ToolChoice::Named { name: name.into() })
        }
        _ => Err(Refusal::unsupported(
            "tool_choice",
            "tool_choice must be auto, none, required or {\"type\": \"function\", \"function\": {\"name\": …}}",
        )),
    }
}

fn response_format(value: &Value) -> Result<ResponseFormat, Refusal> {
    match value.get("type").and_then(Value::as_str) {
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let schema = value.get("json_schema").cloned().unwrap_or(Value::Null);
            serde_json::from_value::<JsonSchema>(schema)
                .map(|json_schema| ResponseFormat::JsonSchema { json_schema })
                .map_err(|e| Refusal::invalid("response_format.json_schema", e.to_string()))
        }
        other => Err(Refusal::unsupported(
            "response_format",
            format!(
                "response_format type {} is not supported; text, json_object and json_schema are",
                other.map_or("(missing)".into(), |t| format!("{t:?}"))
            ),
        )),
    }
}

fn reasoning_effort(value: &Value) -> Result<ReasoningEffort, Refusal> {
    serde_json::from_value(value.clone()).map_err(|_| {
        Refusal::invalid(
            "reasoning_effort",
            "must be none, minimal, low, medium, high or xhigh",
        )
    })
}
