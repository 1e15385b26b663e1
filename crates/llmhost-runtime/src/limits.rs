//! Resource limits of one plugin call (its `Store`): one memory budget for
//! every linear memory of the instance together, one table budget for every
//! table together, and small caps on how many instances, memories and
//! tables a call may create. A component that declares more is refused when
//! it is first instantiated (at load, for its metadata). Remembers whether
//! the memory budget was hit, so that the resulting trap is reported as
//! `memory_limit`, not as a generic trap.

use wasmtime::ResourceLimiter;

/// Core instances one call may create: a Rust component has a handful
/// (program, adapters, shims).
pub(crate) const MAX_INSTANCES: usize = 32;
/// Linear memories one call may create, all counted against one budget.
pub(crate) const MAX_MEMORIES: usize = 4;
/// Tables one call may create.
pub(crate) const MAX_TABLES: usize = 16;
/// Table elements (function references) of all tables together.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 100_000;

pub(crate) struct Limits {
    max_memory: usize,
    /// Bytes of every linear memory of the call, together.
    memory: usize,
    /// Elements of every table of the call, together.
    table_elements: usize,
    memory_exhausted: bool,
}

impl Limits {
    pub(crate) fn new(max_memory: usize) -> Self {
        Self {
            max_memory,
            memory: 0,
            table_elements: 0,
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
    /// Called for every memory's initial size too (`current` 0), so the sum
    /// covers all of them.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = (self.memory - current.min(self.memory)).saturating_add(desired);
        if total > self.max_memory {
            self.memory_exhausted = true;
            return Ok(false);
        }
        self.memory = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total =
            (self.table_elements - current.min(self.table_elements)).saturating_add(desired);
        if total > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.table_elements = total;
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 64 << 10;

    #[test]
    fn every_memory_of_a_call_counts_against_one_budget() {
        let mut limits = Limits::new(10 * PAGE);
        // Three memories created at 3 pages each: 9 pages.
        for _ in 0..3 {
            assert!(limits.memory_growing(0, 3 * PAGE, None).unwrap());
        }
        assert!(!limits.memory_exhausted());
        // A fourth of 3 pages would make 12.
        assert!(!limits.memory_growing(0, 3 * PAGE, None).unwrap());
        assert!(limits.memory_exhausted());
        // Growing one of them by a page fits (10), by two does not.
        assert!(limits.memory_growing(3 * PAGE, 4 * PAGE, None).unwrap());
        assert!(!limits.memory_growing(4 * PAGE, 5 * PAGE, None).unwrap());
    }

    #[test]
    fn tables_share_one_element_budget() {
        let mut limits = Limits::new(PAGE);
        assert!(
            limits
                .table_growing(0, MAX_TABLE_ELEMENTS / 2, None)
                .unwrap()
        );
        assert!(
            limits
                .table_growing(0, MAX_TABLE_ELEMENTS / 2, None)
                .unwrap()
        );
        assert!(!limits.table_growing(0, 1, None).unwrap());
    }
}
