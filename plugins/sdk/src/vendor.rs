//! Helpers every HTTP provider needs: transport failures, rate-limit delays,
//! status codes and bounded error messages, opening a streamed answer, and
//! the request shapes vendors share; used by the `openai`, `anthropic`,
//! `ollama` and `gemini` plugins.

use serde_json::{Value, json};

use crate::bindings::llmhost::provider::types::{
    FinishReason, Message, ProviderError, RateLimit, Role, Usage,
};
use crate::http::{self, BodyReader, HttpError, Response};

/// Error texts are cut to this many bytes: an upstream's error page can be big.
const MAX_MESSAGE: usize = 500;

/// A request that did not produce a response: a timeout is `timeout`, an
/// unusable base URL is the operator's `invalid-request`, anything else means
/// the upstream could not be reached. (When the host's egress policy refused
/// the request, the host reports `egress_denied` whatever we answer.)
pub fn transport_error(vendor: &str, err: HttpError) -> ProviderError {
    match err {
        HttpError::Timeout(m) => ProviderError::Timeout(format!("{vendor}: {m}")),
        HttpError::InvalidRequest(m) => {
            ProviderError::InvalidRequest(format!("{vendor}: check base_url: {m}"))
        }
        other => ProviderError::UpstreamUnavailable(format!("{vendor}: {other}")),
    }
}

/// How long the upstream asked us to wait: `retry-after-ms` (milliseconds,
/// OpenAI) or `retry-after` (seconds; an HTTP date is ignored: plugins have
/// no wall clock worth trusting).
pub fn retry_after_ms(response: &Response) -> Option<u64> {
    let number = |name: &str| {
        response
            .header(name)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    if let Some(ms) = number("retry-after-ms") {
        return Some(ms.ceil() as u64);
    }
    number("retry-after").map(|s| (s * 1000.0).ceil() as u64)
}

/// The usual meaning of an HTTP status; each vendor refines it from its
/// error body.
pub fn by_status(status: u16, message: String, retry_after_ms: Option<u64>) -> ProviderError {
    match status {
        401 => ProviderError::Authentication(message),
        403 => ProviderError::PermissionDenied(message),
        404 => ProviderError::ModelNotFound(message),
        408 | 504 => ProviderError::Timeout(message),
        429 => ProviderError::RateLimited(RateLimit {
            message: match retry_after_ms {
                Some(ms) => format!("{message} (retry after {ms} ms)"),
                None => message,
            },
            retry_after_ms,
        }),
        502 | 503 | 529 => ProviderError::UpstreamUnavailable(message),
        400..=499 => ProviderError::InvalidRequest(message),
        _ => ProviderError::UpstreamError(message),
    }
}

/// The message of a vendor's error, the same shape for every vendor:
/// `"<vendor>: <where>[ (<vendor's code>)]: <its text, bounded>"`, e.g.
/// `openai: HTTP 429 (rate_limit_exceeded): Rate limit reached`.
pub fn error_message(vendor: &str, place: &str, code: &str, text: &str) -> String {
    let code = if code.is_empty() {
        String::new()
    } else {
        format!(" ({code})")
    };
    format!("{vendor}: {place}{code}: {}", bounded(text))
}

/// `text`, cut to a bounded length on a character boundary.
pub fn bounded(text: &str) -> String {
    let text = text.trim();
    if text.len() <= MAX_MESSAGE {
        return text.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A 2xx body that is not what the vendor documents.
pub fn malformed(vendor: &str, err: serde_json::Error, body: &[u8]) -> ProviderError {
    ProviderError::UpstreamError(format!(
        "{vendor}: malformed response ({err}): {}",
        bounded(&String::from_utf8_lossy(body))
    ))
}

/// Token counts as the contract's `usage`: absent when the upstream gave
/// neither count, a missing one as 0, each at most `u32::MAX`.
pub fn usage(input: Option<u64>, output: Option<u64>) -> Option<Usage> {
    if input.is_none() && output.is_none() {
        return None;
    }
    let clamp = |n: Option<u64>| u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX);
    Some(Usage {
        input_tokens: clamp(input),
        output_tokens: clamp(output),
    })
}

/// The finish reason the contract knows for a vendor's common spellings.
pub fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        None => FinishReason::Stop,
        Some(r) => match r.to_ascii_lowercase().as_str() {
            "stop" | "end_turn" | "stop_sequence" | "eos" => FinishReason::Stop,
            "length" | "max_tokens" => FinishReason::Length,
            "content_filter" | "refusal" | "safety" => FinishReason::ContentFilter,
            "tool_calls" | "function_call" | "tool_use" => FinishReason::ToolCalls,
            _ => FinishReason::Other,
        },
    }
}

/// The base URL from the manifest's `[config]`, without a trailing slash.
pub fn base_url(default: &str) -> String {
    crate::bindings::llmhost::provider::host::config_get("base_url")
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
        .trim()
        .trim_end_matches('/')
        .to_owned()
}

/// A sampling parameter as JSON: `0.9`, not the f32's `0.8999999761581421`.
pub fn float(value: f32) -> serde_json::Value {
    let shortest: f64 = value.to_string().parse().unwrap_or(f64::from(value));
    serde_json::json!(shortest)
}

/// Sends a request for a streamed answer. A 2xx answer's body is returned
/// to be read as it arrives; any other answer is read whole and mapped by
/// `error`, exactly as for a request that is not streamed.
pub fn open_stream(
    vendor: &str,
    request: &http::Request,
    error: impl FnOnce(&Response) -> ProviderError,
) -> Result<BodyReader, ProviderError> {
    let response = http::open(request).map_err(|e| transport_error(vendor, e))?;
    if (200..300).contains(&response.status) {
        return Ok(response.body);
    }
    let response = response
        .into_response()
        .map_err(|e| transport_error(vendor, e))?;
    Err(error(&response))
}

/// The conversation as `[{"role", "content"}]`, the shape OpenAI, Anthropic
/// and Ollama share: `role` names each role for the vendor, or leaves its
/// messages out with `None`.
pub fn chat_messages(messages: &[Message], role: impl Fn(Role) -> Option<&'static str>) -> Value {
    messages
        .iter()
        .filter_map(|m| Some(json!({"role": role(m.role)?, "content": m.content})))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: Role, content: &str) -> Message {
        Message {
            role,
            content: content.into(),
        }
    }

    #[test]
    fn chat_messages_name_roles_for_the_vendor_and_leave_out_what_it_skips() {
        let messages = [
            message(Role::System, "be brief"),
            message(Role::User, "hi"),
            message(Role::Tool, "42"),
        ];
        let turns = chat_messages(&messages, |role| match role {
            Role::System => None,
            Role::Assistant => Some("assistant"),
            Role::User | Role::Tool => Some("user"),
        });
        assert_eq!(
            turns,
            json!([{"role": "user", "content": "hi"}, {"role": "user", "content": "42"}])
        );
    }

    #[test]
    fn finish_reasons_and_usage_read_the_vendors_spellings() {
        assert_eq!(finish_reason(Some("end_turn")), FinishReason::Stop);
        assert_eq!(finish_reason(Some("MAX_TOKENS")), FinishReason::Length);
        assert_eq!(finish_reason(Some("tool_use")), FinishReason::ToolCalls);
        assert_eq!(finish_reason(Some("mystery")), FinishReason::Other);
        assert_eq!(usage(None, None), None);
        assert_eq!(
            usage(Some(u64::MAX), None),
            Some(Usage {
                input_tokens: u32::MAX,
                output_tokens: 0
            })
        );
    }
}
