//! llmhost runs LLM providers as WebAssembly components and executes LLM
//! tasks submitted over REST. This crate is the top of the stack; the layers,
//! in dependency order (each uses only those above it):
//!
//! 1. `llmhost_store` (crates/llmhost-store): the status store, the task types
//!    it persists (`task`) and the one error table (`error_code`).
//!    `llmhost_runtime` (crates/llmhost-runtime): wasmtime, the provider
//!    plugins, their sandbox and egress. The two know nothing of each other
//!    or of this crate.
//! 2. `convert`: task types to contract types and back, and which error code
//!    a failed call is. `metrics`: the Prometheus registry. `pricing`: the
//!    price table and what an attempt cost.
//! 3. `worker`: claims tasks from the store, calls the runtime, records the
//!    outcome. `conformance`: the conformance suite, a plugin file or a
//!    loaded instance against the contract, hermetically.
//! 4. `secret`: values that never reach a log (tokens, database URLs).
//!    `api`: the HTTP API (REST, `/v1` OpenAI-compatible, OpenAPI).
//! 5. `config`: the settings of `serve`, their defaults (taken from
//!    `ApiConfig` and `WorkerConfig`) and rules.
//! 6. `server`: `llmhost serve`, wiring store, runtime, workers and API;
//!    `reload`: the configuration file's providers and routes read again;
//!    `connections`: the API's accept loop, connection limit and timeouts;
//!    `open_files`: the open-files limit.
//! 7. `cli`: the command line, and the tools it runs (`client`,
//!    `conformance`, the command over the suite, `plugin_kit`).
//!
//! Everything is `pub(crate)`: the public items below are what the binary,
//! the benchmarks and the black-box tests use.

mod api;
mod capability;
mod cli;
mod config;
mod conformance;
mod connections;
mod convert;
mod metrics;
mod open_files;
mod pricing;
mod reload;
mod retention;
mod routing;
mod secret;
mod server;
mod worker;

pub use api::openai::OVERHEAD_HEADER;
pub use cli::main;
pub use config::bundled_plugins_dir;
