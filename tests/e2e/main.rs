//! End-to-end tests: the real `llmhost` binary, its bundled plugins and its
//! database, driven over real HTTP.

mod control;
mod events;
mod harness;
mod lifecycle;
mod load;
mod multinode;
mod openai_compat;
mod providers;
mod restart;
mod sandbox;
mod upstream;
mod validation;
