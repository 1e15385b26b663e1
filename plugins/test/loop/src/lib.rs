//! Never returns: the host must stop it at its deadline.

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
        info("loop", "spins forever")
    }

    fn complete(_request: Request) -> Result<Completion, ProviderError> {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}
