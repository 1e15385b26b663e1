//! The one wasmtime `Engine` and every setting made on it, each with its
//! reason. Also the epoch ticker that drives deadlines.

use std::time::Duration;

use wasmtime::{Config, Engine};

/// How often the epoch advances: the granularity of deadlines and the most a
/// running plugin delays its cancellation.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

pub fn new_engine() -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Epoch interruption lets a looping plugin be stopped at its deadline
    // with a cheap check, unlike fuel.
    config.epoch_interruption(true);
    let engine = Engine::new(&config)?;
    start_epoch_ticker(&engine);
    Ok(engine)
}

/// Advances the engine's epoch every tick for as long as the engine lives.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("llmhost-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn the epoch thread");
}
