//! How one call of the plugin ended, in the two layers the host keeps apart
//! (the plugin's typed error, the host's failure), described for a plugin
//! author.

use super::upstream::bounded;
use crate::convert;
use llmhost_runtime::{CallError, Completion, EmbeddingsResponse, ProviderError};
use llmhost_store::error_code::ErrorCode;
use llmhost_store::task::{TaskError, TaskResult};

/// How one call ended, host failures and provider errors alike.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome {
    Completed(TaskResult),
    /// Embeddings: each vector's length, in order, and the answering model.
    Embedded {
        lengths: Vec<usize>,
        model: String,
    },
    /// A typed error the plugin returned.
    ProviderError(TaskError),
    /// The host stopped the call (trap, deadline, memory, egress, output).
    HostFailure(TaskError),
}

impl Outcome {
    pub(crate) fn of(result: Result<Result<Completion, ProviderError>, CallError>) -> Self {
        match result {
            Ok(Ok(completion)) => Self::Completed(convert::completion(completion)),
            Ok(Err(error)) => Self::ProviderError(convert::provider_error(error)),
            // The host's upstream timeout is the `timeout` a plugin would
            // have reported itself: count it as the plugin's answer.
            Err(error @ CallError::UpstreamTimeout(_)) => {
                Self::ProviderError(convert::call_error(error))
            }
            Err(error) => Self::HostFailure(convert::call_error(error)),
        }
    }

    pub(crate) fn of_embeddings(
        result: Result<Result<EmbeddingsResponse, ProviderError>, CallError>,
    ) -> Self {
        match result {
            Ok(Ok(answer)) => Self::Embedded {
                lengths: answer.vectors.iter().map(Vec::len).collect(),
                model: answer.model,
            },
            Ok(Err(error)) => Self::ProviderError(convert::provider_error(error)),
            Err(error @ CallError::UpstreamTimeout(_)) => {
                Self::ProviderError(convert::call_error(error))
            }
            Err(error) => Self::HostFailure(convert::call_error(error)),
        }
    }

    pub(crate) fn error(&self) -> Option<&TaskError> {
        match self {
            Self::Completed(_) | Self::Embedded { .. } => None,
            Self::ProviderError(e) | Self::HostFailure(e) => Some(e),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Completed(r) => format!(
                "a completion with the text {}{} (finish reason {}, model {:?})",
                bounded(&r.text),
                calls(r),
                r.finish_reason,
                r.model
            ),
            Self::Embedded { lengths, model } => format!(
                "{} vector(s) of {} dimensions (model {model:?})",
                lengths.len(),
                lengths
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::ProviderError(e) => format!("the error {}{}: {}", e.code, retry(e), e.message),
            Self::HostFailure(e) => format!(
                "a host failure, {}: {} ({})",
                e.code,
                e.message,
                host_failure_advice(e.code)
            ),
        }
    }
}

/// `, calling get_weather({"city":"Paris"}) [call_1]`, or nothing.
fn calls(r: &TaskResult) -> String {
    if r.tool_calls.is_empty() {
        return String::new();
    }
    let calls: Vec<String> = r
        .tool_calls
        .iter()
        .map(|c| format!("{}({}) [{}]", c.name, bounded(&c.arguments), c.id))
        .collect();
    format!(", calling {}", calls.join(", "))
}

fn retry(e: &TaskError) -> String {
    e.retry_after_ms
        .map(|ms| format!(" (retry after {ms} ms)"))
        .unwrap_or_default()
}

fn host_failure_advice(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::PluginTrap => {
            "the plugin panicked (with the message it wrote to stderr) or trapped"
        }
        ErrorCode::MemoryLimit => "the plugin ran out of memory",
        ErrorCode::DeadlineExceeded => "the plugin was still running at the call's deadline",
        ErrorCode::OutputTooLarge => "a string the plugin returned is over its limit",
        ErrorCode::ResourceLimit => {
            "the plugin crossed a per-call limit (log lines or bytes, handles, requests, …)"
        }
        ErrorCode::CapacityExhausted => "the host had no room for the call; it may find some later",
        ErrorCode::EgressDenied => "the plugin's request was refused by its manifest",
        _ => "the host stopped the call",
    }
}
