//! Tries to remember: a counter in its data, a mark deep in a large static
//! buffer (beyond what the host's instance pool keeps resident between
//! calls) and a mark in memory it grows at run time. Each answer reports
//! what it found before leaving its own marks, so the host's promise of a
//! fresh instance per call shows as `calls=0 static=0 grown=0` every time.

use std::sync::atomic::{AtomicU32, Ordering};

use llmhost_plugin_sdk::Provider;
use llmhost_plugin_sdk::answer::{info, text};
use llmhost_plugin_sdk::types::{Completion, ProviderError, ProviderInfo, Request};

struct Plugin;

llmhost_plugin_sdk::export_provider!(Plugin);

static CALLS: AtomicU32 = AtomicU32::new(0);

/// 3 MiB of zeroes in the module's own memory; the mark sits past 2 MiB.
static BIG: [AtomicU32; 3 << 18] = [const { AtomicU32::new(0) }; 3 << 18];
const DEEP: usize = (5 << 18) / 2;

impl Provider for Plugin {
    fn metadata() -> ProviderInfo {
        info(
            "stateful",
            "0.0.0",
            "reports what earlier calls left behind",
        )
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        let calls = CALLS.fetch_add(1, Ordering::Relaxed);
        let deep = BIG[DEEP].swap(0xAB, Ordering::Relaxed);
        Ok(text(
            format!("calls={calls} static={deep} grown={}", grown_mark()),
            request.model,
        ))
    }
}

/// Grows linear memory by 8 MiB and reads the last word of the new pages,
/// which a previous call, had it shared this memory, would have marked.
#[cfg(target_arch = "wasm32")]
fn grown_mark() -> u32 {
    const PAGE: usize = 64 << 10;
    const PAGES: usize = 128;
    let before = core::arch::wasm32::memory_grow(0, PAGES);
    if before == usize::MAX {
        return u32::MAX;
    }
    let last = (before + PAGES) * PAGE - 4;
    // SAFETY: the word lies in the pages just grown, which nothing else
    // uses (the allocator does not know of them) and which are in bounds.
    unsafe {
        let word = last as *mut u32;
        let seen = std::ptr::read_volatile(word);
        std::ptr::write_volatile(word, 0xCD);
        seen
    }
}

/// The plugins' unit tests build every plugin natively, where there is no
/// linear memory to grow; this plugin only ever runs as a component.
#[cfg(not(target_arch = "wasm32"))]
fn grown_mark() -> u32 {
    u32::MAX
}
