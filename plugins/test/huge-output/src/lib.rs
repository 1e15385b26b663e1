//! Answers with far more text than the host accepts.

use llmhost_plugin_sdk::Provider;
use llmhost_plugin_sdk::answer::{info, text};
use llmhost_plugin_sdk::types::{Completion, ProviderError, ProviderInfo, Request};

struct Plugin;

llmhost_plugin_sdk::export_provider!(Plugin);

impl Provider for Plugin {
    fn metadata() -> ProviderInfo {
        info("huge-output", "0.0.0", "answers with 8 MiB of text")
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        Ok(text("x".repeat(8 << 20), request.model))
    }
}
