//! llmhost runs LLM providers as WebAssembly components and executes LLM
//! tasks submitted over REST. Modules, one concern each: `api` (HTTP),
//! `store` (the status store), `worker` (claiming and running tasks),
//! `runtime` (wasmtime and the plugins), `error_code` (the error table),
//! `config` (settings and their precedence), `metrics` (Prometheus).

pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod conformance;
pub mod convert;
pub mod error_code;
pub mod metrics;
pub mod plugin_kit;
pub mod runtime;
pub mod server;
pub mod store;
pub mod task;
#[doc(hidden)]
pub mod testing;
pub mod worker;
