//! Failing fast once an outage is known: after a statement fails with an
//! outage (see `outage`), further statements are refused at once with
//! `StoreError::Unavailable` instead of each waiting out its own deadline,
//! except one every `RETRY_EVERY`, which tries the database for real; its
//! success closes the breaker. No task of its own: the traffic probes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{Outage, Result, StoreError};

/// How often a statement is let through to try a database that is down.
pub(crate) const RETRY_EVERY: Duration = Duration::from_millis(250);

#[derive(Default)]
pub(crate) struct Breaker {
    /// `None` while the database answers.
    down: Mutex<Option<Down>>,
}

#[derive(Clone, Copy)]
struct Down {
    outage: Outage,
    /// When a statement was last let through to try.
    tried: Instant,
}

impl Breaker {
    /// Whether a statement may try the database now.
    pub(crate) fn admit(&self) -> Result<()> {
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        match down.as_mut() {
            None => Ok(()),
            Some(state) if state.tried.elapsed() >= RETRY_EVERY => {
                state.tried = Instant::now();
                Ok(())
            }
            Some(state) => Err(StoreError::Unavailable(state.outage)),
        }
    }

    /// Records how a statement that was admitted ended.
    pub(crate) fn record<T>(&self, result: &Result<T>) {
        // An error the database answered with is no outage: it answers.
        self.observe(result.as_ref().err().and_then(StoreError::outage));
    }

    /// Records whether the database just failed with an outage.
    pub(crate) fn observe(&self, outage: Option<Outage>) {
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        match (outage, down.is_some()) {
            (None, true) => {
                tracing::info!("the database answers again");
                *down = None;
            }
            (Some(outage), false) => {
                tracing::warn!("{outage}: refusing store statements at once until it answers");
                *down = Some(Down {
                    outage,
                    tried: Instant::now(),
                });
            }
            (Some(outage), true) => {
                if let Some(state) = down.as_mut() {
                    state.outage = outage;
                }
            }
            (None, false) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout() -> Result<()> {
        Err(StoreError::Timeout {
            after: Duration::from_secs(1),
        })
    }

    #[test]
    fn an_outage_refuses_at_once_then_lets_one_try_and_a_success_closes_it() {
        let breaker = Breaker::default();
        breaker.admit().unwrap();
        breaker.record(&timeout());
        let refused = breaker.admit().unwrap_err();
        assert_eq!(refused.outage(), Some(Outage::Timeout));
        assert!(
            refused.to_string().contains("did not answer in time"),
            "{refused}"
        );
        std::thread::sleep(RETRY_EVERY);
        breaker.admit().expect("one statement tries");
        assert!(breaker.admit().is_err(), "only one per period");
        breaker.record(&Ok(()));
        breaker.admit().expect("closed again");
        breaker.admit().expect("closed again");
    }

    #[test]
    fn an_error_the_database_answered_with_is_not_an_outage() {
        let breaker = Breaker::default();
        let corrupt: Result<()> = Err(StoreError::Corrupt {
            id: "t".into(),
            reason: "bad".into(),
        });
        breaker.record(&corrupt);
        breaker.admit().unwrap();
    }
}
