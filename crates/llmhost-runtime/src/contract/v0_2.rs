//! Contract 0.2.x, the newest: its bindings (`wit/versions/0.2.0/`), whose
//! types are the host's own request and answer types. Every other version's
//! module converts to and from these.

wasmtime::component::bindgen!({
    path: "../../wit/versions/0.2.0",
    // The widest world; a plugin need not export all of it. The loader
    // looks up each exported interface on its own (`provider` is required,
    // `streaming` and `embeddings` optional).
    world: "embedding-plugin",
    // Exports are called asynchronously so that a plugin that waits (on a
    // clock, on HTTP) yields its thread instead of blocking it.
    exports: { default: async },
});

pub(crate) use self::exports::llmhost::provider::embeddings::GuestIndices as EmbeddingsIndices;
pub use self::exports::llmhost::provider::embeddings::{EmbeddingsRequest, EmbeddingsResponse};
pub(crate) use self::exports::llmhost::provider::provider::GuestIndices as ProviderIndices;
pub(crate) use self::exports::llmhost::provider::streaming::{
    GuestIndices as StreamingIndices, StreamEnd,
};
pub use self::exports::llmhost::provider::streaming::{StreamEvent, ToolCallDelta};
pub(crate) use self::llmhost::provider::host::LogLevel;
pub use self::llmhost::provider::types::*;

/// The version these bindings were generated from.
pub(crate) const VERSION: &str = "0.2.0";

impl Message {
    /// A message of one text part, with nothing else.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: vec![ContentPart::Text(text.into())],
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
            provider_state: None,
        }
    }
}

impl Features {
    /// Each feature with its name in the contract, in the contract's order.
    pub const NAMED: [(Features, &'static str); 13] = [
        (Features::TOOLS, "tools"),
        (Features::TOOL_CHOICE, "tool-choice"),
        (Features::PARALLEL_TOOL_CALLS, "parallel-tool-calls"),
        (Features::JSON_OBJECT, "json-object"),
        (Features::JSON_SCHEMA, "json-schema"),
        (Features::REASONING, "reasoning"),
        (Features::SEED, "seed"),
        (Features::PENALTIES, "penalties"),
        (Features::USER, "user"),
        (Features::NAMES, "names"),
        (Features::MEDIA_URLS, "media-urls"),
        (Features::PROVIDER_OPTIONS, "provider-options"),
        (Features::EMBEDDINGS, "embeddings"),
    ];

    /// The names of the features set, as the contract spells them.
    pub fn names(&self) -> Vec<&'static str> {
        Self::NAMED
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect()
    }
}

/// No parameter given: every field absent.
impl Default for Params {
    fn default() -> Self {
        Self {
            max_tokens: None,
            temperature: None,
            top_p: None,
            stop: Vec::new(),
            seed: None,
            presence_penalty: None,
            frequency_penalty: None,
            reasoning_effort: None,
            user: None,
            response_format: None,
            tool_choice: None,
            parallel_tool_calls: None,
        }
    }
}
