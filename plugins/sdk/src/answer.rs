//! Small constructors for the contract's records.

use crate::bindings::llmhost::provider::types::{Completion, FinishReason, ProviderInfo};

/// A provider description with no listed models.
pub fn info(name: &str, version: &str, description: &str) -> ProviderInfo {
    ProviderInfo {
        name: name.into(),
        version: version.into(),
        description: description.into(),
        models: vec![],
    }
}

/// A finished answer without usage.
pub fn text(text: String, model: String) -> Completion {
    Completion {
        text,
        finish_reason: FinishReason::Stop,
        usage: None,
        model,
    }
}
