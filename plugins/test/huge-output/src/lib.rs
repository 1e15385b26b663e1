//! Answers with far more text than the host accepts.

wit_bindgen::generate!({ path: "../../../wit", world: "plugin" });

use exports::llmhost::provider::provider::Guest;
use llmhost::provider::types::{Completion, FinishReason, ProviderError, ProviderInfo, Request};

struct Plugin;

fn info(name: &str, description: &str) -> ProviderInfo {
    ProviderInfo {
        name: name.into(),
        version: "0.0.0".into(),
        description: description.into(),
        models: vec![],
    }
}

fn answer(text: String, model: String) -> Completion {
    Completion {
        text,
        finish_reason: FinishReason::Stop,
        usage: None,
        model,
    }
}

export!(Plugin);

impl Guest for Plugin {
    fn metadata() -> ProviderInfo {
        info("huge-output", "answers with 8 MiB of text")
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        Ok(answer("x".repeat(8 << 20), request.model))
    }
}
