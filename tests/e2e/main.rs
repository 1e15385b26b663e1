//! End-to-end tests: the real `llmhost` binary, its bundled plugins and its
//! database, driven over real HTTP.

mod auth;
mod config;
mod conformance;
mod contract;
mod control;
mod events;
mod harness;
mod lifecycle;
mod load;
mod metrics;
mod multinode;
mod openai_compat;
mod openapi;
mod plugin_kit;
mod providers;
mod restart;
mod sandbox;
mod shutdown;
mod upstream;
mod validation;
