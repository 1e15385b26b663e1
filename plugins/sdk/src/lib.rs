//! Helpers for writing llmhost provider plugins in Rust.
//!
//! `http` sends requests through `wasi:http`, the only way out of the
//! sandbox. The host decides what may be reached (the plugin's manifest) and
//! adds secrets to requests itself; a plugin never sees them.

pub mod http;
