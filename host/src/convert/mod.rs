//! Translations between the task's types and the plugin contract's, and the
//! mapping of both failure layers (host call errors, provider errors) to a
//! typed error, for the workers and the synchronous endpoint alike
//! (`outcome` is how a call ended, in the task's terms). The request
//! (`request.rs`) and the answer (`answer.rs`) have a file each. The error
//! *codes* and their properties live in `error_code`; this file only says
//! which code each failure is.

mod answer;
mod request;

pub(crate) use answer::completion;
pub(crate) use request::request;

use llmhost_runtime::{self as runtime, CallError, ProviderError};
use llmhost_store::error_code::ErrorCode;
use llmhost_store::task::{TaskError, TaskResult};

/// How a provider call ended, as the task records it: its result, or the
/// typed error of either layer (the provider's answer, the host's failure).
pub(crate) fn outcome(
    call: Result<Result<runtime::Completion, ProviderError>, CallError>,
) -> Result<TaskResult, TaskError> {
    match call {
        Ok(Ok(answer)) => Ok(completion(answer)),
        Ok(Err(error)) => Err(provider_error(error)),
        Err(error) => Err(call_error(error)),
    }
}

pub(crate) fn provider_error(error: ProviderError) -> TaskError {
    let (code, message) = match error {
        ProviderError::InvalidRequest(m) => (ErrorCode::InvalidRequest, m),
        ProviderError::Authentication(m) => (ErrorCode::Authentication, m),
        ProviderError::PermissionDenied(m) => (ErrorCode::PermissionDenied, m),
        ProviderError::ModelNotFound(m) => (ErrorCode::ModelNotFound, m),
        ProviderError::RateLimited(limit) => {
            return TaskError {
                code: ErrorCode::RateLimited,
                message: limit.message,
                retry_after_ms: limit.retry_after_ms,
            };
        }
        ProviderError::ContextLengthExceeded(m) => (ErrorCode::ContextLengthExceeded, m),
        ProviderError::ContentFiltered(m) => (ErrorCode::ContentFiltered, m),
        ProviderError::Timeout(m) => (ErrorCode::Timeout, m),
        ProviderError::UpstreamUnavailable(m) => (ErrorCode::UpstreamUnavailable, m),
        ProviderError::UpstreamError(m) => (ErrorCode::UpstreamError, m),
        ProviderError::Unsupported(m) => (ErrorCode::Unsupported, m),
    };
    TaskError::new(code, message)
}

pub(crate) fn call_error(error: CallError) -> TaskError {
    let code = match &error {
        CallError::DeadlineExceeded(_) => ErrorCode::DeadlineExceeded,
        CallError::MemoryLimit { .. } => ErrorCode::MemoryLimit,
        CallError::Trap(_) => ErrorCode::PluginTrap,
        CallError::EgressDenied(_) => ErrorCode::EgressDenied,
        CallError::UpstreamTimeout(_) => ErrorCode::Timeout,
        CallError::OutputTooLarge { .. } => ErrorCode::OutputTooLarge,
        CallError::ResourceLimit(_) => ErrorCode::ResourceLimit,
        CallError::Capacity(_) => ErrorCode::CapacityExhausted,
    };
    TaskError::new(code, error.to_string())
}
