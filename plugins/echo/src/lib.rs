//! The `echo` provider: deterministic answers for tests and demos.
//!
//! Models: `echo` answers with the last user message; `echo-slow:<ms>` waits
//! that long first; `echo-error:<code>` fails with that typed error (codes as
//! in the task API, e.g. `rate_limited`). It never touches the network.

wit_bindgen::generate!({
    path: "../../wit",
    world: "plugin",
});

use exports::llmhost::provider::provider::Guest;
use llmhost::provider::host::{LogLevel, log};
use llmhost::provider::types::{
    Completion, FinishReason, Message, ModelInfo, ProviderError, ProviderInfo, RateLimit, Request,
    Role, Usage,
};

struct Echo;

impl Guest for Echo {
    fn metadata() -> ProviderInfo {
        ProviderInfo {
            name: "echo".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: env!("CARGO_PKG_DESCRIPTION").into(),
            models: vec![
                model("echo", "answers with the last user message"),
                model("echo-slow:<ms>", "waits <ms> milliseconds, then echoes"),
                model("echo-error:<code>", "fails with the typed error <code>"),
            ],
        }
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        let model = request.model.as_str();
        if let Some(code) = model.strip_prefix("echo-error:") {
            return Err(typed_error(code));
        }
        if let Some(ms) = model.strip_prefix("echo-slow:") {
            let ms: u64 = ms.parse().map_err(|_| {
                ProviderError::InvalidRequest(format!("echo-slow needs milliseconds, got {ms:?}"))
            })?;
            log(LogLevel::Debug, &format!("sleeping {ms} ms"));
            std::thread::sleep(std::time::Duration::from_millis(ms));
        } else if model != "echo" {
            return Err(ProviderError::ModelNotFound(format!(
                "echo serves echo, echo-slow:<ms> and echo-error:<code>, not {model:?}"
            )));
        }
        let text = last_user_message(&request.messages).unwrap_or_default();
        Ok(Completion {
            usage: Some(Usage {
                input_tokens: count_words(request.messages.iter().map(|m| m.content.as_str())),
                output_tokens: count_words([text.as_str()]),
            }),
            text,
            finish_reason: FinishReason::Stop,
            model: request.model,
        })
    }
}

fn model(id: &str, description: &str) -> ModelInfo {
    ModelInfo {
        id: id.into(),
        description: description.into(),
    }
}

fn last_user_message(messages: &[Message]) -> Option<String> {
    messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.clone())
}

/// Whitespace-separated words stand in for tokens: deterministic and cheap.
fn count_words<'a>(texts: impl IntoIterator<Item = &'a str>) -> u32 {
    let words: usize = texts
        .into_iter()
        .map(|t| t.split_whitespace().count())
        .sum();
    u32::try_from(words).unwrap_or(u32::MAX)
}

fn typed_error(code: &str) -> ProviderError {
    let message = format!("echo was asked to fail with {code}");
    match code {
        "invalid_request" => ProviderError::InvalidRequest(message),
        "authentication" => ProviderError::Authentication(message),
        "permission_denied" => ProviderError::PermissionDenied(message),
        "model_not_found" => ProviderError::ModelNotFound(message),
        "rate_limited" => ProviderError::RateLimited(RateLimit {
            message,
            retry_after_ms: Some(100),
        }),
        "context_length_exceeded" => ProviderError::ContextLengthExceeded(message),
        "content_filtered" => ProviderError::ContentFiltered(message),
        "timeout" => ProviderError::Timeout(message),
        "upstream_unavailable" => ProviderError::UpstreamUnavailable(message),
        "upstream_error" => ProviderError::UpstreamError(message),
        "unsupported" => ProviderError::Unsupported(message),
        other => ProviderError::InvalidRequest(format!("echo-error: unknown error code {other:?}")),
    }
}

export!(Echo);
