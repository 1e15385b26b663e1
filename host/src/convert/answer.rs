//! A provider's completion in the task's terms: text, tool calls, reasoning,
//! refusal, finish reason, usage and the upstream's ids, all kept.

use llmhost_runtime as runtime;
use llmhost_store::task::{TaskResult, ToolCall, Usage};

pub(crate) fn completion(c: runtime::Completion) -> TaskResult {
    let finish_reason = match c.finish_reason {
        runtime::FinishReason::Stop => "stop",
        runtime::FinishReason::Length => "length",
        runtime::FinishReason::ContentFilter => "content_filter",
        runtime::FinishReason::ToolCalls => "tool_calls",
        runtime::FinishReason::Other => "other",
    };
    TaskResult {
        text: c.text,
        finish_reason: finish_reason.to_owned(),
        usage: c.usage.map(|u| Usage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cached_input_tokens: u.cached_input_tokens,
            cache_write_input_tokens: u.cache_write_input_tokens,
            reasoning_tokens: u.reasoning_tokens,
            // Priced where the price table is known (`pricing`).
            cost_nanousd: None,
        }),
        model: c.model,
        tool_calls: c
            .tool_calls
            .into_iter()
            .map(|t| ToolCall {
                id: t.id,
                name: t.name,
                arguments: t.arguments,
            })
            .collect(),
        reasoning: c.reasoning,
        refusal: c.refusal,
        response_id: c.response_id,
        provider_state: c.provider_state,
    }
}
