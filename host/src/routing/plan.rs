//! One routed request's walk through its route: the order its targets are
//! tried in (listed, or drawn by weight), and what a failure leads to (the
//! next target, the context-window fallback, or the end, when the failure
//! is the answer). Holds no state shared between requests.

use std::future::Future;
use std::time::{Duration, Instant};

use llmhost_store::error_code::ErrorCode;
use llmhost_store::task::TaskError;
use rand::Rng;

use super::{Route, Strategy, Target};

/// What a failed attempt leads to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next<'r> {
    Try(&'r Target),
    /// The failure is the request's answer.
    Stop,
}

/// One attempt of a routed request: which target, how it ended, how long
/// it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attempted {
    /// `<instance>/<model>`.
    pub(crate) target: String,
    /// `completed`, or the failure's error code.
    pub(crate) outcome: &'static str,
    pub(crate) duration: Duration,
}

/// Where a request is on its route.
pub(crate) struct Walk<'r> {
    route: &'r Route,
    order: Vec<&'r Target>,
    tried: usize,
    context_window_used: bool,
}

impl Route {
    /// A walk over this route, its order drawn now.
    pub(crate) fn walk(&self, rng: &mut impl Rng) -> Walk<'_> {
        let order = match self.strategy {
            Strategy::Fallback => self.targets.iter().collect(),
            Strategy::Weighted => by_weight(&self.targets, rng),
        };
        Walk {
            route: self,
            order,
            tried: 0,
            context_window_used: false,
        }
    }
}

impl<'r> Walk<'r> {
    /// The target to try first.
    pub(crate) fn first(&mut self) -> &'r Target {
        self.tried = 1;
        self.order[0]
    }

    /// After an attempt failed with `code`: where to go next.
    pub(crate) fn after(&mut self, code: ErrorCode) -> Next<'r> {
        if code == ErrorCode::ContextLengthExceeded {
            return match &self.route.context_window_fallback {
                Some(target) if !self.context_window_used => {
                    self.context_window_used = true;
                    Next::Try(target)
                }
                _ => Next::Stop,
            };
        }
        if !self.route.fallback_on.contains(&code) {
            return Next::Stop;
        }
        match self.order.get(self.tried) {
            Some(target) => {
                self.tried += 1;
                Next::Try(target)
            }
            None => Next::Stop,
        }
    }
}

/// Every target once, each next one drawn by weight from those left.
fn by_weight<'r>(targets: &'r [Target], rng: &mut impl Rng) -> Vec<&'r Target> {
    let mut left: Vec<&Target> = targets.iter().collect();
    let mut order = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let total: u64 = left.iter().map(|t| u64::from(t.weight)).sum();
        let mut draw = rng.random_range(0..total);
        let index = left
            .iter()
            .position(|t| {
                let weight = u64::from(t.weight);
                if draw < weight {
                    return true;
                }
                draw -= weight;
                false
            })
            .expect("a draw below the total weight lands on a target");
        order.push(left.remove(index));
    }
    order
}

/// Runs a routed request: `attempt` is called with each target in turn
/// until one answers or a failure is the answer. Returns the answer (with
/// the target that gave it) and every attempt made.
pub(crate) async fn run<T, F, Fut>(
    route: &Route,
    mut attempt: F,
) -> (Result<(Target, T), TaskError>, Vec<Attempted>)
where
    F: FnMut(&Target) -> Fut,
    Fut: Future<Output = Result<T, TaskError>>,
{
    let mut walk = route.walk(&mut rand::rng());
    let mut target = walk.first();
    let mut attempts = Vec::new();
    loop {
        let started = Instant::now();
        let outcome = attempt(target).await;
        attempts.push(Attempted {
            target: target.label(),
            outcome: match &outcome {
                Ok(_) => "completed",
                Err(error) => error.code.as_str(),
            },
            duration: started.elapsed(),
        });
        let error = match outcome {
            Ok(answer) => return (Ok((target.clone(), answer)), attempts),
            Err(error) => error,
        };
        match walk.after(error.code) {
            Next::Try(next) => target = next,
            Next::Stop => return (Err(error), attempts),
        }
    }
}
