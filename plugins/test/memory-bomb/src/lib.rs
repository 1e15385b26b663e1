//! Allocates without bound: the host must stop it at its memory limit.

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
        info("memory-bomb", "allocates until stopped")
    }

    fn complete(_request: Request) -> Result<Completion, ProviderError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}
