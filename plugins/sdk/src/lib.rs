//! Helpers for writing llmhost provider plugins in Rust.
//!
//! `bindings` are the contract's types and imports (a plugin exports its
//! implementation with `bindings::export_provider!`); `http` sends requests through
//! `wasi:http`, the only way out of the sandbox (the host decides what may
//! be reached and adds secrets itself; a plugin never sees them); `vendor`
//! maps HTTP trouble to the contract's typed errors.

/// The contract (`wit/`), generated once for every plugin that uses the SDK.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export_provider",
        default_bindings_module: "llmhost_plugin_sdk::bindings",
    });
}

pub mod answer;
pub mod http;
pub mod vendor;
