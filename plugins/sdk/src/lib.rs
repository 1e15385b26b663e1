//! Helpers for writing llmhost provider plugins in Rust.
//!
//! A provider implements `Provider` (metadata, `complete`, and `stream`
//! when it can do better than one piece) and exports it with
//! `export_provider!`. A provider for an HTTP upstream implements
//! `vendor::HttpVendor` instead (its request, its answer, its stream
//! decoder, its errors) and exports it with `export_vendor!`: its code is
//! then mostly its wire format.
//!
//! The pieces: `http` sends requests through `wasi:http`, the only way out
//! of the sandbox (the host decides what may be reached and adds secrets
//! itself; a plugin never sees them), whole or read as they arrive;
//! `framing` cuts streamed bodies into SSE events or NDJSON lines and
//! `stream` turns them into the contract's stream; `errors` maps HTTP
//! trouble to the contract's typed errors; `shared` holds the request and
//! answer shapes vendors share. `bindings` are the generated contract, for
//! what the rest does not cover.

#![deny(missing_docs)]

/// The contract (`wit/`), generated once for every plugin that uses the SDK.
/// Documented in the WIT file.
#[expect(
    missing_docs,
    reason = "generated; the WIT file documents the contract"
)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/versions/0.1.1",
        world: "streaming-plugin",
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

pub mod answer;
pub mod errors;
pub mod framing;
pub mod http;
mod provider;
pub mod shared;
pub mod stream;
pub mod vendor;

pub use provider::Provider;
