//! Helpers for writing llmhost provider plugins in Rust.
//!
//! A provider implements `Provider` (metadata, `complete`, `stream` when it
//! can do better than one piece, `embed` when it has embeddings) and exports
//! it with `export_provider!`. A provider for an HTTP upstream implements
//! `vendor::HttpVendor` instead (its request, its answer, its stream
//! decoder, its errors) and exports it with `export_vendor!`: its code is
//! then mostly its wire format.
//!
//! The pieces: `http` sends requests through `wasi:http`, the only way out
//! of the sandbox (the host decides what may be reached and adds secrets
//! itself; a plugin never sees them), whole or read as they arrive;
//! `framing` cuts streamed bodies into SSE events or NDJSON lines and
//! `stream` turns them into the contract's stream; `tools` assembles and
//! numbers streamed tool calls; `parts` reads message content (text, media,
//! the tool call a result answers); `json` reads the JSON texts a request
//! carries (schemas, arguments, provider options); `errors` maps HTTP
//! trouble to the contract's typed errors; `shared` holds the request and
//! answer shapes vendors share. `bindings` are the generated contract, for
//! what the rest does not cover.

#![deny(missing_docs)]

/// The contract (`wit/versions/0.2.0`, world `embedding-plugin`), generated
/// once for every plugin that uses the SDK. Documented in the WIT file.
#[expect(
    missing_docs,
    reason = "generated; the WIT file documents the contract"
)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/versions/0.2.0",
        world: "embedding-plugin",
        pub_export_macro: true,
        export_macro_name: "export_bindings",
        default_bindings_module: "llmhost_plugin_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

/// The contract's types.
pub use bindings::llmhost::provider::types;

/// What the host offers: `log` and `config_get`.
pub use bindings::llmhost::provider::host;

/// The `streaming` interface's types: events, tool-call deltas, the end.
pub use bindings::exports::llmhost::provider::streaming as streaming_types;

/// The `embeddings` interface's types: the request and the vectors.
pub use bindings::exports::llmhost::provider::embeddings as embeddings_types;

pub mod answer;
mod decoding;
pub mod errors;
pub mod framing;
pub mod http;
pub mod json;
pub mod parts;
mod provider;
pub mod shared;
pub mod stream;
pub mod tools;
pub mod vendor;

pub use provider::Provider;
