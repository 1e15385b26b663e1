//! The parts of vendors' wire formats they share: token usage, finish
//! reasons, the configured base URL, reasoning effort's spellings.

use crate::bindings::llmhost::provider::types::{FinishReason, ReasoningEffort, Usage};

/// Token counts as the contract's `usage`: absent when the upstream gave
/// neither count, a missing one as 0, each at most `u32::MAX`. The detail
/// counts (cached, cache-written, reasoning) are the vendor's to add.
pub fn usage(input: Option<u64>, output: Option<u64>) -> Option<Usage> {
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(Usage {
        input_tokens: count(input.unwrap_or(0)),
        output_tokens: count(output.unwrap_or(0)),
        cached_input_tokens: None,
        cache_write_input_tokens: None,
        reasoning_tokens: None,
    })
}

/// A token count as the contract's `u32`, at most `u32::MAX`.
pub fn count(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
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

/// A sampling float as JSON, as the client wrote it. Contract 0.2 carries
/// `f64`, so `0.9` arrives as `0.9`; a value that is exactly an `f32`
/// widened (a host or store that kept `f32`, as 0.1 did, turns `0.9` into
/// `0.8999999761581421`) is written as that `f32`'s shortest decimal,
/// which is what the client wrote.
pub fn float(value: f64) -> serde_json::Value {
    let narrow = value as f32;
    if value.is_finite() && f64::from(narrow) == value {
        let shortest: f64 = narrow.to_string().parse().unwrap_or(value);
        return serde_json::json!(shortest);
    }
    serde_json::json!(value)
}

/// A reasoning effort as OpenAI spells it (`none` … `xhigh`), which other
/// vendors' efforts follow.
pub fn effort(effort: ReasoningEffort) -> &'static str {
    match effort {
        ReasoningEffort::None => "none",
        ReasoningEffort::Minimal => "minimal",
        ReasoningEffort::Low => "low",
        ReasoningEffort::Medium => "medium",
        ReasoningEffort::High => "high",
        ReasoningEffort::Xhigh => "xhigh",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons_and_usage_read_the_vendors_spellings() {
        assert_eq!(finish_reason(Some("end_turn")), FinishReason::Stop);
        assert_eq!(finish_reason(Some("MAX_TOKENS")), FinishReason::Length);
        assert_eq!(finish_reason(Some("tool_use")), FinishReason::ToolCalls);
        assert_eq!(finish_reason(Some("mystery")), FinishReason::Other);
        assert_eq!(usage(None, None), None);
        let clamped = usage(Some(u64::MAX), None).unwrap();
        assert_eq!((clamped.input_tokens, clamped.output_tokens), (u32::MAX, 0));
        assert_eq!(clamped.cached_input_tokens, None);
        assert_eq!(effort(ReasoningEffort::Xhigh), "xhigh");
        assert_eq!(float(0.9).to_string(), "0.9");
        assert_eq!(float(f64::from(0.9f32)).to_string(), "0.9");
        assert_eq!(float(0.123456789012).to_string(), "0.123456789012");
        assert_eq!(float(-2.0).to_string(), "-2.0");
    }
}
