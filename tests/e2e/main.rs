//! End-to-end tests: the real `llmhost` binary, its bundled plugins and its
//! database, driven over real HTTP.

mod harness;
mod lifecycle;
mod restart;
mod validation;
