//! What a plugin returns, checked before the host keeps, stores, logs or
//! shows any of it: the generated output (text, reasoning, refusal, tool
//! calls' arguments) within `max_output_bytes`, the provider state too, and
//! every other string (the model name, a response or tool-call id or name,
//! an error's message, each metadata string) within `max_string_bytes`, the
//! metadata as a whole within `MAX_METADATA_BYTES`. Past a cap the call
//! fails with `output_too_large` naming the field and the limit; nothing is
//! cut silently. Then every form of the plugin's secrets is redacted from
//! all of it (`redact`).

use super::assemble;
use super::contract::v0_2::{Completion, EmbeddingsResponse, ProviderError, ProviderInfo};
use super::manifest::Limits;
use super::plugin::CallError;
use super::redact::Redactor;

/// The most a provider's metadata may hold in all (every string of it, and
/// its models): `GET /api/v1/providers` shows it for every provider.
pub(crate) const MAX_METADATA_BYTES: usize = 256 << 10;
/// The most models a provider may list.
pub(crate) const MAX_MODELS: usize = 1_000;

fn within(what: &'static str, size: usize, limit: usize) -> Result<(), CallError> {
    if size > limit {
        let unit = if what == "list of models" {
            "entries"
        } else {
            "bytes"
        };
        return Err(CallError::OutputTooLarge {
            what,
            size,
            limit,
            unit,
        });
    }
    Ok(())
}

pub(crate) fn check_completion(completion: &Completion, limits: &Limits) -> Result<(), CallError> {
    let max = limits.max_string_bytes;
    within(
        "output",
        assemble::size(completion),
        limits.max_output_bytes,
    )?;
    within("model name", completion.model.len(), max)?;
    let response_id = completion.response_id.as_ref().map_or(0, String::len);
    within("response id", response_id, max)?;
    let state = completion.provider_state.as_ref().map_or(0, String::len);
    within("provider state", state, limits.max_output_bytes)?;
    for call in &completion.tool_calls {
        within("tool call id", call.id.len(), max)?;
        within("tool call name", call.name.len(), max)?;
    }
    Ok(())
}

pub(crate) fn check_embeddings(
    answer: &EmbeddingsResponse,
    limits: &Limits,
) -> Result<(), CallError> {
    let size = answer.vectors.iter().map(|v| v.len() * 4).sum::<usize>();
    within("embeddings", size, limits.max_output_bytes)?;
    within("model name", answer.model.len(), limits.max_string_bytes)
}

pub(crate) fn check_error(error: &mut ProviderError, limits: &Limits) -> Result<(), CallError> {
    within(
        "error message",
        message_mut(error).len(),
        limits.max_string_bytes,
    )
}

/// The metadata a plugin declares at load; an error refuses the plugin.
pub(crate) fn check_info(info: &ProviderInfo, limits: &Limits) -> Result<(), CallError> {
    let max = limits.max_string_bytes;
    within("name", info.name.len(), max)?;
    within("version", info.version.len(), max)?;
    within("description", info.description.len(), max)?;
    within("list of models", info.models.len(), MAX_MODELS)?;
    let mut total = info.name.len() + info.version.len() + info.description.len();
    for model in &info.models {
        within("model id", model.id.len(), max)?;
        within("model description", model.description.len(), max)?;
        total += model.id.len() + model.description.len();
    }
    within("metadata", total, MAX_METADATA_BYTES)
}

/// Removes every form of the plugin's secrets from what it generated.
pub(crate) fn redact_completion(completion: &mut Completion, redactor: &Redactor) {
    if redactor.is_empty() {
        return;
    }
    redactor.redact(&mut completion.text);
    redactor.redact_option(&mut completion.reasoning);
    redactor.redact_option(&mut completion.refusal);
    redactor.redact(&mut completion.model);
    redactor.redact_option(&mut completion.response_id);
    redactor.redact_option(&mut completion.provider_state);
    for call in &mut completion.tool_calls {
        redactor.redact(&mut call.id);
        redactor.redact(&mut call.name);
        redactor.redact(&mut call.arguments);
    }
}

/// The one string of an embeddings answer.
pub(crate) fn redact_embeddings(answer: &mut EmbeddingsResponse, redactor: &Redactor) {
    redactor.redact(&mut answer.model);
}

/// Every string of the metadata `GET /api/v1/providers` publishes. It is
/// produced with no network, so it cannot have learnt a secret; this keeps
/// it so if that ever changes.
pub(crate) fn redact_info(info: &mut ProviderInfo, redactor: &Redactor) {
    if redactor.is_empty() {
        return;
    }
    redactor.redact(&mut info.version);
    redactor.redact(&mut info.description);
    for media in &mut info.capabilities.input_media {
        redactor.redact(media);
    }
    for model in &mut info.models {
        redactor.redact(&mut model.id);
        redactor.redact(&mut model.description);
        if let Some(capabilities) = &mut model.capabilities {
            for media in &mut capabilities.input_media {
                redactor.redact(media);
            }
        }
    }
}

pub(crate) fn message_mut(error: &mut ProviderError) -> &mut String {
    match error {
        ProviderError::RateLimited(limit) => &mut limit.message,
        ProviderError::InvalidRequest(m)
        | ProviderError::Authentication(m)
        | ProviderError::PermissionDenied(m)
        | ProviderError::ModelNotFound(m)
        | ProviderError::ContextLengthExceeded(m)
        | ProviderError::ContentFiltered(m)
        | ProviderError::Timeout(m)
        | ProviderError::UpstreamUnavailable(m)
        | ProviderError::UpstreamError(m)
        | ProviderError::Unsupported(m) => m,
    }
}

#[cfg(test)]
mod tests {
    use super::super::contract::v0_2::{
        Capabilities, Features, FinishReason, ModelInfo, RateLimit, ToolCall,
    };
    use super::*;

    #[test]
    fn every_string_a_plugin_returns_is_redacted() {
        const SECRET: &str = "sk-returned-9f8e7d";
        let redactor = Redactor::new([SECRET.as_bytes()]);
        let leak = |what: &str| format!("{what}={SECRET}");
        let mut completion = Completion {
            text: leak("text"),
            reasoning: Some(leak("reasoning")),
            refusal: Some(leak("refusal")),
            tool_calls: vec![ToolCall {
                id: leak("id"),
                name: leak("name"),
                arguments: format!("{{\"k\": \"{SECRET}\"}}"),
            }],
            finish_reason: FinishReason::ToolCalls,
            usage: None,
            model: leak("model"),
            response_id: Some(leak("response")),
            provider_state: Some(leak("state")),
        };
        redact_completion(&mut completion, &redactor);
        let shown = format!("{completion:?}");
        assert!(!shown.contains(SECRET), "{shown}");
        assert_eq!(shown.matches(crate::redact::REDACTED).count(), 9, "{shown}");

        let mut embeddings = EmbeddingsResponse {
            vectors: vec![vec![0.5]],
            model: leak("model"),
            input_tokens: None,
        };
        redact_embeddings(&mut embeddings, &redactor);
        assert_eq!(embeddings.model, "model=[redacted]");

        let mut info = ProviderInfo {
            name: "p".into(),
            version: leak("v"),
            description: leak("d"),
            models: vec![ModelInfo {
                id: leak("m"),
                description: leak("md"),
                capabilities: Some(Capabilities {
                    features: Features::empty(),
                    input_media: vec![leak("image/")],
                }),
                context_window: None,
            }],
            capabilities: Capabilities {
                features: Features::empty(),
                input_media: vec![leak("image/")],
            },
        };
        redact_info(&mut info, &redactor);
        let shown = format!("{info:?}");
        assert!(!shown.contains(SECRET), "{shown}");
        assert_eq!(shown.matches(crate::redact::REDACTED).count(), 6, "{shown}");
    }

    fn limits() -> Limits {
        Limits {
            max_string_bytes: 8,
            max_output_bytes: 16,
            ..Limits::default()
        }
    }

    #[test]
    fn every_returned_string_is_held_to_its_cap_and_named() {
        let completion = |text: &str, model: &str| Completion {
            text: text.into(),
            reasoning: None,
            refusal: None,
            tool_calls: Vec::new(),
            finish_reason: FinishReason::Stop,
            usage: None,
            model: model.into(),
            response_id: None,
            provider_state: None,
        };
        check_completion(&completion(&"t".repeat(16), "12345678"), &limits()).unwrap();
        let err = check_completion(&completion("t", "123456789"), &limits()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the provider's model name is 9 bytes; the limit is 8"
        );
        let err = check_completion(&completion(&"t".repeat(17), "m"), &limits()).unwrap_err();
        assert!(err.to_string().contains("output is 17 bytes"), "{err}");

        let mut error = ProviderError::RateLimited(RateLimit {
            message: "x".repeat(9),
            retry_after_ms: None,
        });
        let err = check_error(&mut error, &limits()).unwrap_err();
        assert!(
            err.to_string().contains("error message is 9 bytes"),
            "{err}"
        );

        let info = |description: &str, models: usize| ProviderInfo {
            name: "p".into(),
            version: "1".into(),
            description: description.into(),
            models: vec![
                ModelInfo {
                    id: "m".into(),
                    description: String::new(),
                    capabilities: None,
                    context_window: None,
                };
                models
            ],
            capabilities: Capabilities {
                features: Features::empty(),
                input_media: Vec::new(),
            },
        };
        check_info(&info("short", 3), &limits()).unwrap();
        let err = check_info(&info("much too long", 0), &limits()).unwrap_err();
        assert!(err.to_string().contains("description is 13 bytes"), "{err}");
        let err = check_info(&info("", MAX_MODELS + 1), &limits()).unwrap_err();
        assert!(
            err.to_string().contains("list of models is 1001 entries"),
            "{err}"
        );
    }
}
