//! The one check of a request against what the chosen model declares,
//! before any upstream call, for the task API (at submit, and again by the
//! worker) and `/v1` alike: every optional feature the request uses must be
//! among the model's capabilities, and the conversation must be shaped as
//! the contract promises providers. A refusal names the field in OpenAI's
//! terms (`tools`, `messages[2].content[0]`); each API renders it.

use llmhost_runtime::{
    Capabilities, ContentPart, Features, MediaSource, Plugin, Request, Role, ToolChoice,
};
use llmhost_store::task::TaskInput;

use crate::convert;

/// The contract request for `input`, checked against `plugin`'s model when
/// the plugin is installed (when it is not, the task fails later as
/// `provider_not_found`, and `/v1` answers that at once).
pub(crate) fn admit(
    plugin: Option<&Plugin>,
    provider: &str,
    model: &str,
    input: &TaskInput,
) -> Result<Request, Refusal> {
    let request = convert::request(model, input)?;
    if let Some(plugin) = plugin {
        check(
            &request,
            plugin.capabilities(model),
            &format!("{provider}/{model}"),
        )?;
    }
    Ok(request)
}

/// Why a request cannot go to the model, naming the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The field, as OpenAI's `param` names it.
    pub(crate) param: String,
    pub(crate) message: String,
    /// The model does not declare the feature (`unsupported_parameter`),
    /// rather than the request being malformed.
    pub(crate) unsupported: bool,
}

impl Refusal {
    pub(crate) fn unsupported(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            message: message.into(),
            unsupported: true,
        }
    }

    pub(crate) fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            message: message.into(),
            unsupported: false,
        }
    }

    /// The field as the task API names it (parameters live in `params`).
    pub(crate) fn task_param(&self) -> String {
        const PARAMS: [&str; 8] = [
            "seed",
            "presence_penalty",
            "frequency_penalty",
            "reasoning_effort",
            "user",
            "response_format",
            "tool_choice",
            "parallel_tool_calls",
        ];
        if PARAMS.contains(&self.param.as_str()) {
            format!("params.{}", self.param)
        } else {
            self.param.clone()
        }
    }
}

/// A refusal as a task's failure: `invalid_request` naming the field as
/// the task API does.
impl From<Refusal> for llmhost_store::task::TaskError {
    fn from(refusal: Refusal) -> Self {
        Self::new(
            llmhost_store::error_code::ErrorCode::InvalidRequest,
            format!("{}: {}", refusal.task_param(), refusal.message),
        )
    }
}

/// Checks `request` against the capabilities of `model` (named in
/// messages as `provider/model`).
pub(crate) fn check(request: &Request, caps: &Capabilities, model: &str) -> Result<(), Refusal> {
    let need = |feature: Features, param: &str, what: &str| {
        if caps.features.contains(feature) {
            Ok(())
        } else {
            Err(Refusal::unsupported(
                param,
                format!("{model} does not support {what}"),
            ))
        }
    };
    if !request.tools.is_empty() {
        need(Features::TOOLS, "tools", "tools")?;
    }
    tool_choice(request, &need)?;
    let p = &request.params;
    if p.parallel_tool_calls.is_some() {
        need(
            Features::PARALLEL_TOOL_CALLS,
            "parallel_tool_calls",
            "parallel_tool_calls",
        )?;
    }
    match &p.response_format {
        Some(llmhost_runtime::ResponseFormat::JsonObject) => need(
            Features::JSON_OBJECT,
            "response_format",
            "response_format json_object",
        )?,
        Some(llmhost_runtime::ResponseFormat::JsonSchema(_)) => need(
            Features::JSON_SCHEMA,
            "response_format",
            "response_format json_schema",
        )?,
        Some(llmhost_runtime::ResponseFormat::Text) | None => {}
    }
    let optional = [
        (p.seed.is_some(), Features::SEED, "seed"),
        (
            p.presence_penalty.is_some(),
            Features::PENALTIES,
            "presence_penalty",
        ),
        (
            p.frequency_penalty.is_some(),
            Features::PENALTIES,
            "frequency_penalty",
        ),
        (
            p.reasoning_effort.is_some(),
            Features::REASONING,
            "reasoning_effort",
        ),
        (p.user.is_some(), Features::USER, "user"),
        (
            request.provider_options.is_some(),
            Features::PROVIDER_OPTIONS,
            "provider_options",
        ),
    ];
    for (used, feature, param) in optional {
        if used {
            need(feature, param, param)?;
        }
    }
    for (i, message) in request.messages.iter().enumerate() {
        self::message(i, message, caps, &need, model)?;
    }
    Ok(())
}

/// An embeddings request: the model must declare `embeddings`, and `user`
/// when one is given.
pub(crate) fn check_embeddings(
    caps: &Capabilities,
    user: bool,
    model: &str,
) -> Result<(), Refusal> {
    if !caps.features.contains(Features::EMBEDDINGS) {
        return Err(Refusal::unsupported(
            "model",
            format!("{model} does not embed"),
        ));
    }
    if user && !caps.features.contains(Features::USER) {
        return Err(Refusal::unsupported(
            "user",
            format!("{model} does not support user"),
        ));
    }
    Ok(())
}

fn tool_choice(
    request: &Request,
    need: &impl Fn(Features, &str, &str) -> Result<(), Refusal>,
) -> Result<(), Refusal> {
    let Some(choice) = &request.params.tool_choice else {
        return Ok(());
    };
    if request.tools.is_empty() {
        return Err(Refusal::invalid("tool_choice", "tool_choice needs tools"));
    }
    match choice {
        ToolChoice::Auto => Ok(()),
        ToolChoice::Named(name) if !request.tools.iter().any(|t| &t.name == name) => {
            Err(Refusal::invalid(
                "tool_choice",
                format!("tool_choice names {name:?}, which is not among the tools"),
            ))
        }
        _ => need(
            Features::TOOL_CHOICE,
            "tool_choice",
            "tool_choice other than auto",
        ),
    }
}

fn message(
    i: usize,
    m: &llmhost_runtime::Message,
    caps: &Capabilities,
    need: &impl Fn(Features, &str, &str) -> Result<(), Refusal>,
    model: &str,
) -> Result<(), Refusal> {
    let at = |field: &str| format!("messages[{i}].{field}");
    if !m.tool_calls.is_empty() {
        if m.role != Role::Assistant {
            return Err(Refusal::invalid(
                at("tool_calls"),
                "only assistant messages call tools",
            ));
        }
        need(Features::TOOLS, &at("tool_calls"), "tool calls")?;
    }
    match (m.role, &m.tool_call_id) {
        (Role::Tool, None) => {
            return Err(Refusal::invalid(
                at("tool_call_id"),
                "a tool message must name the call it answers",
            ));
        }
        (Role::Tool, Some(_)) => need(Features::TOOLS, &format!("messages[{i}]"), "tool results")?,
        (_, Some(_)) => {
            return Err(Refusal::invalid(
                at("tool_call_id"),
                "only tool messages answer a call",
            ));
        }
        (_, None) => {}
    }
    if m.name.is_some() {
        need(Features::NAMES, &at("name"), "message names")?;
    }
    if m.provider_state.is_some() && m.role != Role::Assistant {
        return Err(Refusal::invalid(
            at("provider_state"),
            "only an assistant message carries the provider state of its answer",
        ));
    }
    for (j, part) in m.content.iter().enumerate() {
        let ContentPart::Media(media) = part else {
            continue;
        };
        let param = at(&format!("content[{j}]"));
        if !matches!(m.role, Role::User | Role::Tool) {
            return Err(Refusal::invalid(
                param,
                "only user and tool messages carry media",
            ));
        }
        if !caps
            .input_media
            .iter()
            .any(|p| media_matches(p, &media.media_type))
        {
            return Err(Refusal::unsupported(
                param,
                format!("{model} does not accept {} input", media.media_type),
            ));
        }
        if matches!(media.source, MediaSource::Url(_)) {
            need(
                Features::MEDIA_URLS,
                &param,
                "media by URL (send a data: URL)",
            )?;
        }
    }
    Ok(())
}

/// Whether a declared pattern (`image/*`, `image/png`) accepts a media type
/// (`image/*` when only known to be an image).
fn media_matches(pattern: &str, media_type: &str) -> bool {
    match pattern.strip_suffix("/*") {
        Some(kind) => media_type
            .split_once('/')
            .is_some_and(|(k, _)| k.eq_ignore_ascii_case(kind)),
        None => pattern.eq_ignore_ascii_case(media_type),
    }
}

#[cfg(test)]
mod tests;
