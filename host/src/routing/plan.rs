//! One routed request's walk through its route: the order its targets are
//! tried in (listed, drawn by weight, fewest calls in flight, or lowest
//! latency, each among the targets not cooling down), and what a failure
//! leads to (the next target, the context-window fallback, or the end, when
//! the failure is the answer). What it learns of each target goes to the
//! shared `Health`; the walk itself holds no state between requests.

use std::future::Future;
use std::time::{Duration, Instant};

use llmhost_store::error_code::ErrorCode;
use llmhost_store::task::TaskError;
use rand::Rng;

use super::health::{Ended, Health};
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

/// What an attempt that answered hands back: its answer and, when the
/// answer streamed, how long its first piece took. A target's `latency`
/// is its time to first token, not its time to the whole answer: a long
/// answer from a fast target must not make it look slow.
pub(crate) struct Answered<T> {
    pub(crate) value: T,
    /// `None`: the first token came when the attempt returned (a whole
    /// answer, or a stream that returns once its first piece is in).
    pub(crate) first_token: Option<Duration>,
}

impl<T> Answered<T> {
    /// An answer whose first token came when the attempt returned.
    pub(crate) fn on_return(value: T) -> Self {
        Self {
            value,
            first_token: None,
        }
    }
}

/// Where a request is on its route.
pub(crate) struct Walk<'r> {
    route: &'r Route,
    order: Vec<&'r Target>,
    tried: usize,
    context_window_used: bool,
}

impl Route {
    /// A walk over this route, its order drawn now among the targets
    /// `health` does not have cooling down.
    pub(crate) fn walk(&self, rng: &mut impl Rng, health: &Health) -> Walk<'_> {
        let available: Vec<&Target> = self
            .targets
            .iter()
            .filter(|t| health.available(&t.label()))
            .collect();
        let order = match self.strategy {
            Strategy::Fallback => available,
            Strategy::Weighted => by_weight(&available, rng),
            // Stable sorts: ties keep the listed order.
            Strategy::LeastBusy => {
                let mut order = available;
                order.sort_by_key(|t| health.load(&t.label()).0);
                order
            }
            Strategy::Latency => {
                // A target not measured yet goes first, so it gets measured.
                let mut order = available;
                order.sort_by(|a, b| {
                    let latency = |t: &Target| health.load(&t.label()).1.unwrap_or(0.0);
                    latency(a).total_cmp(&latency(b))
                });
                order
            }
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
    /// The target to try first; `None` when every target is cooling down.
    pub(crate) fn first(&mut self) -> Option<&'r Target> {
        self.skip()
    }

    /// The next target in the order, whatever the last one did (it could
    /// not be called: it began cooling down since the order was drawn).
    pub(crate) fn skip(&mut self) -> Option<&'r Target> {
        // Past a context too long, only its fallback would do.
        if self.context_window_used {
            return None;
        }
        let next = self.order.get(self.tried).copied();
        self.tried += 1;
        next
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
fn by_weight<'r>(targets: &[&'r Target], rng: &mut impl Rng) -> Vec<&'r Target> {
    let mut left: Vec<&Target> = targets.to_vec();
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
    health: &Health,
    attempt: F,
) -> (Result<(Target, T), TaskError>, Vec<Attempted>)
where
    F: FnMut(&Target) -> Fut,
    Fut: Future<Output = Result<Answered<T>, TaskError>>,
{
    run_while(route, health, attempt, || true).await
}

/// `run`, where a failure is also the answer once `may_move_on` says no
/// (asked after each failed attempt: a task whose attempt already showed
/// its watchers text cannot take it back by asking another target).
/// Targets cooling down are passed over; when none is left to call, the
/// answer is `upstream_unavailable` (with the earliest end of a cooldown
/// as its `retry-after`), or the last failure if there was one.
pub(crate) async fn run_while<T, F, Fut>(
    route: &Route,
    health: &Health,
    mut attempt: F,
    may_move_on: impl Fn() -> bool,
) -> (Result<(Target, T), TaskError>, Vec<Attempted>)
where
    F: FnMut(&Target) -> Fut,
    Fut: Future<Output = Result<Answered<T>, TaskError>>,
{
    let mut walk = route.walk(&mut rand::rng(), health);
    let mut attempts = Vec::new();
    let mut next = walk.first();
    let mut last_error = None;
    while let Some(target) = next {
        let label = target.label();
        let Some(call) = health.begin(&label) else {
            next = walk.skip();
            continue;
        };
        let started = Instant::now();
        let outcome = attempt(target).await;
        let duration = started.elapsed();
        call.finish(
            match &outcome {
                Ok(answered) => Ended::Answered(answered.first_token.unwrap_or(duration)),
                Err(error) => Ended::Failed(error),
            },
            &route.cooldown,
        );
        attempts.push(Attempted {
            target: label,
            outcome: match &outcome {
                Ok(_) => "completed",
                Err(error) => error.code.as_str(),
            },
            duration,
        });
        let error = match outcome {
            Ok(answered) => return (Ok((target.clone(), answered.value)), attempts),
            Err(error) if !may_move_on() => return (Err(error), attempts),
            Err(error) => error,
        };
        match walk.after(error.code) {
            Next::Try(target) => next = Some(target),
            Next::Stop => return (Err(error), attempts),
        }
        last_error = Some(error);
    }
    let error = last_error.unwrap_or_else(|| all_cooling_down(route, health));
    (Err(error), attempts)
}

/// The answer when no target of the route could be called.
fn all_cooling_down(route: &Route, health: &Health) -> TaskError {
    let waits: Vec<(String, Option<u64>)> = route
        .targets
        .iter()
        .map(|t| (t.label(), health.of(&t.label()).cooldown_left_ms))
        .collect();
    let listed: Vec<String> = waits
        .iter()
        .map(|(label, left)| match left {
            Some(ms) => format!("{label} for {ms} ms"),
            None => format!("{label} (probing)"),
        })
        .collect();
    let mut error = TaskError::new(
        ErrorCode::UpstreamUnavailable,
        format!(
            "route {:?}: every target is cooling down after failures: {}",
            route.name,
            listed.join(", ")
        ),
    );
    error.retry_after_ms = waits.iter().filter_map(|(_, left)| *left).min();
    error
}
