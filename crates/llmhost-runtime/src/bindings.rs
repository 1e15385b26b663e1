//! Host-side bindings of the plugin contract in `wit/versions/0.1.1/`.
//!
//! Generated for the widest world, `streaming-plugin`; a plugin need not
//! export everything in it. The loader looks up each exported interface on
//! its own (`provider` is required, `streaming` optional), and wasmtime
//! matches names by semver, so a plugin built against 0.1.0 resolves
//! against this host's 0.1.1 names.

wasmtime::component::bindgen!({
    path: "../../wit/versions/0.1.1",
    world: "streaming-plugin",
    // Exports are called asynchronously so that a plugin that waits (on a
    // clock, on HTTP) yields its thread instead of blocking it.
    exports: { default: async },
});

pub(crate) use self::exports::llmhost::provider::provider::GuestIndices as ProviderIndices;
pub(crate) use self::exports::llmhost::provider::streaming::{
    GuestIndices as StreamingIndices, StreamEnd, StreamEvent,
};
pub(crate) use self::llmhost::provider::host::LogLevel;
pub use self::llmhost::provider::types::{
    Completion, FinishReason, Message, ModelInfo, Params, ProviderError, ProviderInfo, RateLimit,
    Request, Role, Usage,
};

/// The contract version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.1";
