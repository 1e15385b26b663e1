//! Panics (a trap): the host must report plugin_trap and carry on.

use llmhost_plugin_sdk::Provider;
use llmhost_plugin_sdk::answer::info;
use llmhost_plugin_sdk::types::{Completion, ProviderError, ProviderInfo, Request};

struct Plugin;

llmhost_plugin_sdk::export_provider!(Plugin);

impl Provider for Plugin {
    fn metadata() -> ProviderInfo {
        info("panic", "0.0.0", "panics on every call")
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        panic!("deliberate panic for model {}", request.model);
    }
}
