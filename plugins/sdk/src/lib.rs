//! Helpers for writing llmhost provider plugins in Rust.
//!
//! `bindings` are the contract's types and imports (a plugin exports its
//! implementation with `bindings::export_provider!`, or with
//! `export_whole_provider!` when it does not stream); `http` sends requests
//! through `wasi:http`, the only way out of the sandbox (the host decides
//! what may be reached and adds secrets itself; a plugin never sees them),
//! whole or read as they arrive; `framing` cuts streamed bodies into SSE
//! events or NDJSON lines and `stream` turns them into the contract's
//! stream; `vendor` maps HTTP trouble to the contract's typed errors and
//! builds the parts of requests that vendors share.

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
        export_macro_name: "export_provider",
        default_bindings_module: "llmhost_plugin_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

pub mod answer;
pub mod framing;
pub mod http;
pub mod stream;
pub mod vendor;
