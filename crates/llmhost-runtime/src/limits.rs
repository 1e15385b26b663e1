//! Resource limits of one plugin instance, remembering whether a limit was
//! hit so that the resulting trap is reported as `memory_limit`, not as a
//! generic trap.

use wasmtime::ResourceLimiter;

pub(crate) struct Limits {
    max_memory: usize,
    memory_exhausted: bool,
}

impl Limits {
    pub(crate) fn new(max_memory: usize) -> Self {
        Self {
            max_memory,
            memory_exhausted: false,
        }
    }

    pub(crate) fn max_memory(&self) -> usize {
        self.max_memory
    }

    /// Whether the instance asked for more memory than it may have.
    pub(crate) fn memory_exhausted(&self) -> bool {
        self.memory_exhausted
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.max_memory;
        if !allowed {
            self.memory_exhausted = true;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a plugin needs few.
        Ok(desired <= 100_000)
    }
}
