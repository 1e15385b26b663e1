//! The parts of vendors' wire formats they share: token usage, finish
//! reasons, the configured base URL, sampling floats, `[{role, content}]`
//! conversations.

use serde_json::{Value, json};

use crate::bindings::llmhost::provider::types::{FinishReason, Message, Role, Usage};

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
