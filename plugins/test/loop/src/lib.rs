//! Never returns: the host must stop it at its deadline.

use llmhost_plugin_sdk::Provider;
use llmhost_plugin_sdk::answer::info;
use llmhost_plugin_sdk::types::{Completion, ProviderError, ProviderInfo, Request};

struct Plugin;

llmhost_plugin_sdk::export_provider!(Plugin);

impl Provider for Plugin {
    fn metadata() -> ProviderInfo {
        info("loop", "0.0.0", "spins forever")
    }

    fn complete(_request: Request) -> Result<Completion, ProviderError> {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}
