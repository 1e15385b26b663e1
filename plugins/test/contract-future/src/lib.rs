//! Built against contract 0.3.0 (its own `wit/`), a version no host of the
//! 0.1 or 0.2 series speaks: the host must refuse it at load, naming both versions.

wit_bindgen::generate!({
    path: "wit",
    world: "plugin",
});

use exports::llmhost::provider::provider::Guest;
use llmhost::provider::types::{Completion, ProviderError, ProviderInfo, Request};

struct Plugin;

impl Guest for Plugin {
    fn metadata() -> ProviderInfo {
        ProviderInfo {
            name: "contract-future".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: env!("CARGO_PKG_DESCRIPTION").into(),
            models: vec![],
        }
    }

    fn complete(_request: Request) -> Result<Completion, ProviderError> {
        Err(ProviderError::Unsupported("never loaded".into()))
    }
}

export!(Plugin);
