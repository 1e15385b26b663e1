//! Host-side bindings of the plugin contract in `wit/`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Exports are called asynchronously so that a plugin that waits (on a
    // clock today, on HTTP later) yields its thread instead of blocking it.
    exports: { default: async },
});

pub use self::llmhost::provider::host::LogLevel;
pub use self::llmhost::provider::types::{
    Completion, FinishReason, Message, ModelInfo, Params, ProviderError, ProviderInfo, RateLimit,
    Request, Role, Usage,
};

/// The contract version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.1";
