//! Built against the frozen contract 0.1.0, not the current one: a host
//! speaking a later 0.1.x must load it and call it like any provider.

wit_bindgen::generate!({
    path: "../../../wit/versions/0.1.0",
    world: "plugin",
});

use exports::llmhost::provider::provider::Guest;
use llmhost::provider::types::{
    Completion, FinishReason, ModelInfo, ProviderError, ProviderInfo, Request,
};

struct Plugin;

impl Guest for Plugin {
    fn metadata() -> ProviderInfo {
        ProviderInfo {
            name: "contract-v010".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: env!("CARGO_PKG_DESCRIPTION").into(),
            models: vec![ModelInfo {
                id: "v010".into(),
                description: "answers `0.1.0 says: <last message>`".into(),
            }],
        }
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        let last = request.messages.last().map(|m| m.content.clone());
        Ok(Completion {
            text: format!("0.1.0 says: {}", last.unwrap_or_default()),
            finish_reason: FinishReason::Stop,
            usage: None,
            model: request.model,
        })
    }
}

export!(Plugin);
