//! End-to-end tests: the real `llmhost` binary, its bundled plugins and its
//! database, driven over real HTTP.

mod auth;
mod config;
mod control;
mod harness;
mod lifecycle;
mod load;
mod metrics;
mod multinode;
mod openapi;
mod restart;
mod shutdown;
mod validation;
