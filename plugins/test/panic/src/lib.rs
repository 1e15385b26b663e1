//! Panics (a trap): the host must report plugin_trap and carry on.

wit_bindgen::generate!({ path: "../../../wit", world: "plugin" });

use exports::llmhost::provider::provider::Guest;
use llmhost::provider::types::{Completion, ProviderError, ProviderInfo, Request};

struct Plugin;

fn info(name: &str, description: &str) -> ProviderInfo {
    ProviderInfo {
        name: name.into(),
        version: "0.0.0".into(),
        description: description.into(),
        models: vec![],
    }
}

export!(Plugin);

impl Guest for Plugin {
    fn metadata() -> ProviderInfo {
        info("panic", "panics on every call")
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        panic!("deliberate panic for model {}", request.model);
    }
}
