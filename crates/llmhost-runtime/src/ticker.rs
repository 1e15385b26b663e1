//! The epoch ticker: one thread per process that advances every live
//! engine's epoch each `EPOCH_TICK` while at least one plugin call is in
//! progress, and is parked (no wake-ups at all) while none is. A call holds
//! a `Ticking` for as long as its `Store` lives.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;

use wasmtime::{Engine, EngineWeak};

use super::engine::EPOCH_TICK;

struct Ticker {
    /// Calls in progress, across every engine.
    calls: AtomicUsize,
    engines: Mutex<Vec<EngineWeak>>,
    thread: Thread,
}

fn ticker() -> &'static Ticker {
    static TICKER: OnceLock<Ticker> = OnceLock::new();
    TICKER.get_or_init(|| {
        let thread = std::thread::Builder::new()
            .name("llmhost-epoch".into())
            .spawn(|| run(ticker()))
            .expect("spawn the epoch thread");
        Ticker {
            calls: AtomicUsize::new(0),
            engines: Mutex::new(Vec::new()),
            thread: thread.thread().clone(),
        }
    })
}

/// Has `engine`'s epoch advanced while calls run, for as long as it lives.
pub(crate) fn register(engine: &Engine) {
    ticker()
        .engines
        .lock()
        .expect("ticker lock")
        .push(engine.weak());
}

/// Held by one call: while any is held, epochs advance.
pub(crate) struct Ticking(());

impl Ticking {
    pub(crate) fn start() -> Self {
        let ticker = ticker();
        if ticker.calls.fetch_add(1, Ordering::AcqRel) == 0 {
            // A token if the thread is not parked yet: it will not park.
            ticker.thread.unpark();
        }
        Self(())
    }
}

impl Drop for Ticking {
    fn drop(&mut self) {
        ticker().calls.fetch_sub(1, Ordering::AcqRel);
    }
}

fn run(ticker: &Ticker) {
    loop {
        if ticker.calls.load(Ordering::Acquire) == 0 {
            std::thread::park();
            continue;
        }
        // A tick after the call started, not at once: a call that ends
        // within a tick is never interrupted to yield.
        std::thread::sleep(EPOCH_TICK);
        ticker
            .engines
            .lock()
            .expect("ticker lock")
            .retain(|weak| match weak.upgrade() {
                Some(engine) => {
                    engine.increment_epoch();
                    true
                }
                None => false,
            });
    }
}
