//! Allocates without bound: the host must stop it at its memory limit.

use llmhost_plugin_sdk::Provider;
use llmhost_plugin_sdk::answer::info;
use llmhost_plugin_sdk::types::{Completion, ProviderError, ProviderInfo, Request};

struct Plugin;

llmhost_plugin_sdk::export_provider!(Plugin);

impl Provider for Plugin {
    fn metadata() -> ProviderInfo {
        info("memory-bomb", "0.0.0", "allocates until stopped")
    }

    fn complete(_request: Request) -> Result<Completion, ProviderError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}
