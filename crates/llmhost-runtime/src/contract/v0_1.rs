//! Contract 0.1.x (0.1.0 and 0.1.1; wasmtime resolves a 0.1.0 plugin's
//! names against 0.1.1's): its bindings, and the conversions between its
//! text-only types and the newest ones. A 0.1 plugin declares no optional
//! feature, so the host's capability check refuses anything it could not
//! carry before a call; `request` still refuses rather than drop it.

use super::v0_2 as latest;

wasmtime::component::bindgen!({
    path: "../../wit/versions/0.1.1",
    world: "streaming-plugin",
    exports: { default: async },
});

pub(crate) use self::exports::llmhost::provider::provider::GuestIndices as ProviderIndices;
pub(crate) use self::exports::llmhost::provider::streaming::{
    GuestIndices as StreamingIndices, StreamEvent,
};
pub(crate) use self::llmhost::provider::host::LogLevel;
use self::llmhost::provider::types as old;

/// The version these bindings were generated from.
pub(crate) const VERSION: &str = "0.1.1";

/// The request in 0.1's terms, or the name of what 0.1 cannot carry.
pub(crate) fn request(r: &latest::Request) -> Result<old::Request, String> {
    let refuse = |what: &str| Err(what.to_owned());
    if !r.tools.is_empty() {
        return refuse("tools");
    }
    if r.provider_options.is_some() {
        return refuse("provider options");
    }
    let p = &r.params;
    let unsupported = [
        (p.seed.is_some(), "seed"),
        (p.presence_penalty.is_some(), "presence penalty"),
        (p.frequency_penalty.is_some(), "frequency penalty"),
        (p.reasoning_effort.is_some(), "reasoning effort"),
        (p.user.is_some(), "user"),
        (
            !matches!(p.response_format, None | Some(latest::ResponseFormat::Text)),
            "response format",
        ),
        (p.tool_choice.is_some(), "tool choice"),
        (p.parallel_tool_calls.is_some(), "parallel tool calls"),
    ];
    if let Some((_, what)) = unsupported.iter().find(|(used, _)| *used) {
        return refuse(what);
    }
    let messages = r.messages.iter().map(message).collect::<Result<_, _>>()?;
    Ok(old::Request {
        model: r.model.clone(),
        messages,
        params: old::Params {
            max_tokens: p.max_tokens,
            // 0.1's floats are 32-bit: the nearest one is the best it holds.
            temperature: p.temperature.map(|t| t as f32),
            top_p: p.top_p.map(|t| t as f32),
            stop: p.stop.clone(),
        },
    })
}

fn message(m: &latest::Message) -> Result<old::Message, String> {
    let refuse = |what: &str| Err(what.to_owned());
    if !m.tool_calls.is_empty() {
        return refuse("tool calls");
    }
    if m.tool_call_id.is_some() {
        return refuse("tool results");
    }
    if m.name.is_some() {
        return refuse("message names");
    }
    let mut content = String::new();
    for part in &m.content {
        match part {
            latest::ContentPart::Text(text) => content.push_str(text),
            latest::ContentPart::Media(media) => {
                return refuse(&format!("media ({})", media.media_type));
            }
        }
    }
    Ok(old::Message {
        role: match m.role {
            latest::Role::System => old::Role::System,
            latest::Role::User => old::Role::User,
            latest::Role::Assistant => old::Role::Assistant,
            latest::Role::Tool => old::Role::Tool,
        },
        content,
    })
}

pub(crate) fn completion(c: old::Completion) -> latest::Completion {
    latest::Completion {
        text: c.text,
        reasoning: None,
        refusal: None,
        tool_calls: Vec::new(),
        finish_reason: finish_reason(c.finish_reason),
        usage: c.usage.map(usage),
        model: c.model,
        response_id: None,
        provider_state: None,
    }
}

fn finish_reason(f: old::FinishReason) -> latest::FinishReason {
    match f {
        old::FinishReason::Stop => latest::FinishReason::Stop,
        old::FinishReason::Length => latest::FinishReason::Length,
        old::FinishReason::ContentFilter => latest::FinishReason::ContentFilter,
        old::FinishReason::ToolCalls => latest::FinishReason::ToolCalls,
        old::FinishReason::Other => latest::FinishReason::Other,
    }
}

fn usage(u: old::Usage) -> latest::Usage {
    latest::Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cached_input_tokens: None,
        cache_write_input_tokens: None,
        reasoning_tokens: None,
    }
}

pub(crate) fn error(e: old::ProviderError) -> latest::ProviderError {
    use latest::ProviderError as New;
    use old::ProviderError as Old;
    match e {
        Old::InvalidRequest(m) => New::InvalidRequest(m),
        Old::Authentication(m) => New::Authentication(m),
        Old::PermissionDenied(m) => New::PermissionDenied(m),
        Old::ModelNotFound(m) => New::ModelNotFound(m),
        Old::RateLimited(l) => New::RateLimited(latest::RateLimit {
            message: l.message,
            retry_after_ms: l.retry_after_ms,
        }),
        Old::ContextLengthExceeded(m) => New::ContextLengthExceeded(m),
        Old::ContentFiltered(m) => New::ContentFiltered(m),
        Old::Timeout(m) => New::Timeout(m),
        Old::UpstreamUnavailable(m) => New::UpstreamUnavailable(m),
        Old::UpstreamError(m) => New::UpstreamError(m),
        Old::Unsupported(m) => New::Unsupported(m),
    }
}

/// 0.1 has no capabilities: every model declares none.
pub(crate) fn provider_info(i: old::ProviderInfo) -> latest::ProviderInfo {
    latest::ProviderInfo {
        name: i.name,
        version: i.version,
        description: i.description,
        models: i
            .models
            .into_iter()
            .map(|m| latest::ModelInfo {
                id: m.id,
                description: m.description,
                capabilities: None,
                context_window: None,
            })
            .collect(),
        capabilities: latest::Capabilities {
            features: latest::Features::empty(),
            input_media: Vec::new(),
        },
    }
}

pub(crate) fn stream_event(e: StreamEvent) -> latest::StreamEvent {
    match e {
        StreamEvent::Text(text) => latest::StreamEvent::Text(text),
        StreamEvent::End(end) => latest::StreamEvent::End(latest::StreamEnd {
            finish_reason: finish_reason(end.finish_reason),
            usage: end.usage.map(usage),
            model: end.model,
            response_id: None,
            provider_state: None,
        }),
    }
}

pub(crate) fn log_level(level: LogLevel) -> latest::LogLevel {
    match level {
        LogLevel::Trace => latest::LogLevel::Trace,
        LogLevel::Debug => latest::LogLevel::Debug,
        LogLevel::Info => latest::LogLevel::Info,
        LogLevel::Warn => latest::LogLevel::Warn,
        LogLevel::Error => latest::LogLevel::Error,
    }
}
