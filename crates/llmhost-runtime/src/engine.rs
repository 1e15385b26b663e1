//! The one wasmtime `Engine` and every setting made on it, each with its
//! reason. Its epoch is advanced by `ticker` while calls run.

use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of deadlines and the most a
/// running plugin delays its cancellation.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances that may be alive at once (running calls plus loads).
const MAX_LIVE_INSTANCES: u32 = 1000;

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
    pool.total_component_instances(MAX_LIVE_INSTANCES);
    // A Rust component holds a handful of core modules (program, adapters).
    pool.total_core_instances(MAX_LIVE_INSTANCES * 8);
    pool.total_memories(MAX_LIVE_INSTANCES * 2);
    pool.total_tables(MAX_LIVE_INSTANCES * 8);
    pool.total_stacks(MAX_LIVE_INSTANCES);
    // A component that declares more memories or tables than one call may
    // have (`limits`) cannot take more slots than that: it fails to
    // instantiate, so it is refused at load.
    pool.max_memories_per_component(super::limits::MAX_MEMORIES as u32);
    pool.max_tables_per_component(super::limits::MAX_TABLES as u32);
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
