//! The one wasmtime `Engine` and every setting made on it, each with its
//! reason. Its epoch is advanced by `ticker` while calls run.

use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of deadlines and the most a
/// running plugin delays its cancellation.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances that may be alive at once (running calls plus loads); one
/// provider may hold at most half of them (`limits.max_concurrent_calls`).
pub(crate) const MAX_LIVE_INSTANCES: u32 = 1024;

/// The largest linear memory an instance may have: the pool's slot size,
/// and the most a manifest's `limits.memory_bytes` may ask for.
pub(crate) const MAX_MEMORY_BYTES: usize = 1 << 30;

/// Bytes of each linear memory and table that a freed slot keeps mapped and
/// resets with `memset` instead of `madvise`: a small provider touches less
/// than this per call, so the next call in the slot takes no page faults.
const KEEP_RESIDENT: usize = 1 << 20;

pub(crate) fn new_engine() -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Epoch interruption lets a looping plugin be stopped at its deadline
    // with a cheap check, unlike fuel.
    config.epoch_interruption(true);
    // A fresh instance per call must be cheap: the pooling allocator reuses
    // pre-reserved slots instead of mapping memory for every call.
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling()));
    // Copy-on-write initial memory: instantiation maps the data segments
    // instead of copying them.
    config.memory_init_cow(true);
    let engine = Engine::new(&config)?;
    super::ticker::register(&engine);
    Ok(engine)
}

fn pooling() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    // Sized for every live instance at its per-call caps (`limits`), so
    // the pool runs out of nothing before it runs out of instances: a
    // component with many memories cannot starve the others of memory
    // slots. A component that declares more memories, tables or core
    // instances than one call may have fails to instantiate, so it is
    // refused at load. A full pool is `capacity_exhausted`, retryable.
    use super::limits::{MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES};
    pool.total_component_instances(MAX_LIVE_INSTANCES);
    pool.total_core_instances(MAX_LIVE_INSTANCES * MAX_INSTANCES as u32);
    pool.total_memories(MAX_LIVE_INSTANCES * MAX_MEMORIES as u32);
    pool.total_tables(MAX_LIVE_INSTANCES * MAX_TABLES as u32);
    pool.total_stacks(MAX_LIVE_INSTANCES);
    pool.max_core_instances_per_component(MAX_INSTANCES as u32);
    pool.max_memories_per_component(MAX_MEMORIES as u32);
    pool.max_tables_per_component(MAX_TABLES as u32);
    // The per-component caps are the ones that matter; a core module may
    // hold all of them (the pool's default is one of each per module).
    pool.max_memories_per_module(MAX_MEMORIES as u32);
    pool.max_tables_per_module(MAX_TABLES as u32);
    // Above every per-plugin memory limit (enforced by `limits::Limits`, so
    // that hitting it is reported as `memory_limit`).
    pool.max_memory_size(MAX_MEMORY_BYTES);
    // Resetting a slot for the next call (isolation: it starts from the
    // module's initial image every time) by rewriting the pages the last
    // call dirtied, found with PAGEMAP_SCAN where the kernel has it, costs
    // far less than unmapping them and faulting them back in.
    pool.linear_memory_keep_resident(KEEP_RESIDENT);
    pool.table_keep_resident(KEEP_RESIDENT);
    pool.pagemap_scan(Enabled::Auto);
    pool
}
