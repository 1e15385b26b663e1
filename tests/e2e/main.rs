//! End-to-end tests: the real `llmhost` binary, its bundled plugins and its
//! database, driven over real HTTP.

mod auth;
mod config;
mod conformance;
mod contract;
mod control;
mod error_table;
mod events;
mod harness;
mod lifecycle;
mod load;
mod metrics;
mod mock_vendors;
mod multinode;
mod openai_compat;
mod openapi;
mod plugin_kit;
mod provider_streams;
mod providers;
mod restart;
mod sandbox;
mod shutdown;
mod upstream;
mod validation;
