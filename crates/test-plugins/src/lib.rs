//! The test plugins (`plugins/test/*`: an infinite loop, a memory bomb, a
//! panic, an oversized answer, egress and secret probes, old and future
//! contract versions, a broken provider), built as components for llmhost's
//! tests. Each is a path constant (`LOOP`, `MEMORY_BOMB`, …) to its `.wasm`
//! file; `foreach_test_plugin!(mac)` calls `mac!(CONST)` for every one, so
//! that a test crate can check each is used (see `tests/e2e/main.rs`).
//!
//! A dev-dependency only: the product's build script builds the shipped
//! providers alone.

#![warn(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/gen.rs"));
