//! Deployment health: what this process has seen of each target
//! (`<instance>/<model>`), shared by every route naming it and by `/v1`
//! and the workers alike. A circuit breaker per target: after `failures`
//! failures of the target's own (rate limited, unavailable, timed out, an
//! upstream error) within `window`, or a rate limit's `retry-after`, the
//! target cools down and routes skip it; when the cooldown ends, one call
//! probes it (half-open) and its outcome closes the breaker or opens it
//! again. Also counts each target's calls in flight (`least-busy`) and an
//! EWMA of its time to first token (`latency`). Per process, never stored.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llmhost_store::error_code::ErrorCode;
use llmhost_store::task::TaskError;
use serde::{Deserialize, Serialize};

/// The longest a rate limit's `retry-after` cools a target: an upstream's
/// wish, bounded by the host.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);
/// How much a new time to first token weighs in the average.
const EWMA_WEIGHT: f64 = 0.3;

/// `cooldown = { failures, window_ms, cooldown_ms }` on a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CooldownSpec {
    /// Failures within the window that make a target cool down.
    #[serde(default = "CooldownSpec::default_failures")]
    pub(crate) failures: u32,
    #[serde(default = "CooldownSpec::default_window_ms")]
    pub(crate) window_ms: u64,
    /// How long a target cools down before a probe may try it again.
    #[serde(default = "CooldownSpec::default_cooldown_ms")]
    pub(crate) cooldown_ms: u64,
}

impl CooldownSpec {
    fn default_failures() -> u32 {
        3
    }
    fn default_window_ms() -> u64 {
        60_000
    }
    fn default_cooldown_ms() -> u64 {
        30_000
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if self.failures == 0 {
            return Err("cooldown.failures: must be at least 1".into());
        }
        if !(1..=86_400_000).contains(&self.window_ms) {
            return Err("cooldown.window_ms: must be between 1 and 86400000".into());
        }
        if !(1..=86_400_000).contains(&self.cooldown_ms) {
            return Err("cooldown.cooldown_ms: must be between 1 and 86400000".into());
        }
        Ok(())
    }
}

impl Default for CooldownSpec {
    fn default() -> Self {
        Self {
            failures: Self::default_failures(),
            window_ms: Self::default_window_ms(),
            cooldown_ms: Self::default_cooldown_ms(),
        }
    }
}

/// Where a target's breaker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    /// Called as its route says.
    Healthy,
    /// The cooldown is over: the next call probes it.
    HalfOpen,
    /// Skipped until the cooldown ends (or a probe is running).
    CoolingDown,
}

impl State {
    /// The value of `llmhost_deployment_state`.
    pub(crate) fn gauge(self) -> i64 {
        match self {
            Self::Healthy => 0,
            Self::HalfOpen => 1,
            Self::CoolingDown => 2,
        }
    }
}

#[derive(Debug, Default)]
struct Target {
    /// The target's own failures within the window, oldest first.
    failures: VecDeque<Instant>,
    /// Set while open: skipped until then.
    open_until: Option<Instant>,
    /// A half-open probe is running: the others wait for its outcome.
    probing: bool,
    in_flight: u32,
    /// Seconds.
    ttft: Option<f64>,
    failed_total: u64,
}

impl Target {
    fn state(&self, now: Instant) -> State {
        match self.open_until {
            None => State::Healthy,
            Some(until) if until > now || self.probing => State::CoolingDown,
            Some(_) => State::HalfOpen,
        }
    }
}

/// What a route may know of a target now.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TargetHealth {
    pub(crate) state: State,
    /// Calls to it running in this process.
    pub(crate) in_flight: u32,
    /// The EWMA of its time to first token (of the whole answer when not
    /// streamed), in milliseconds; null before its first answer.
    pub(crate) latency_ms: Option<f64>,
    /// Its own failures within the current window.
    pub(crate) recent_failures: u32,
    /// Its own failures since the process started.
    pub(crate) failures_total: u64,
    /// Milliseconds until a probe may try it, while cooling down.
    pub(crate) cooldown_left_ms: Option<u64>,
}

/// Every target's health in this process; cheap to share.
#[derive(Clone, Default)]
pub(crate) struct Health(Arc<Mutex<HashMap<String, Target>>>);

/// How a call of a target ended, for its health.
pub(crate) enum Ended<'e> {
    /// It answered: the time to its first token.
    Answered(Duration),
    Failed(&'e TaskError),
}

impl Health {
    fn with<R>(&self, label: &str, f: impl FnOnce(&mut Target) -> R) -> R {
        let mut targets = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(targets.entry(label.to_owned()).or_default())
    }

    /// The target's health now.
    pub(crate) fn of(&self, label: &str) -> TargetHealth {
        let now = Instant::now();
        self.with(label, |t| TargetHealth {
            state: t.state(now),
            in_flight: t.in_flight,
            latency_ms: t.ttft.map(|s| s * 1_000.0),
            recent_failures: u32::try_from(t.failures.len()).unwrap_or(u32::MAX),
            failures_total: t.failed_total,
            cooldown_left_ms: t
                .open_until
                .and_then(|until| until.checked_duration_since(now))
                .map(|left| u64::try_from(left.as_millis()).unwrap_or(u64::MAX)),
        })
    }

    /// Every target seen so far, by label, with its state.
    pub(crate) fn states(&self) -> Vec<(String, State)> {
        let now = Instant::now();
        let targets = self.0.lock().unwrap_or_else(|e| e.into_inner());
        targets
            .iter()
            .map(|(label, t)| (label.clone(), t.state(now)))
            .collect()
    }

    /// Whether a call may go to the target now (healthy, or half-open with
    /// no probe running).
    pub(crate) fn available(&self, label: &str) -> bool {
        self.with(label, |t| t.state(Instant::now()) != State::CoolingDown)
    }

    /// The target's in-flight calls and its latency EWMA (seconds).
    pub(crate) fn load(&self, label: &str) -> (u32, Option<f64>) {
        self.with(label, |t| (t.in_flight, t.ttft))
    }

    /// Starts a call of the target; `None` when it is cooling down (or
    /// another call is probing it). The call that takes a half-open target
    /// is its probe.
    pub(crate) fn begin(&self, label: &str) -> Option<Call> {
        // `Some(probe)` when taken.
        let taken = self.with(label, |t| match t.state(Instant::now()) {
            State::CoolingDown => None,
            State::HalfOpen => {
                t.probing = true;
                t.in_flight += 1;
                Some(true)
            }
            State::Healthy => {
                t.in_flight += 1;
                Some(false)
            }
        });
        taken.map(|probe| Call {
            health: self.clone(),
            label: label.to_owned(),
            probe,
            ended: false,
        })
    }

    fn end(&self, call: &Call, ended: Option<Ended<'_>>, cooldown: &CooldownSpec) {
        let now = Instant::now();
        let probe = call.probe;
        self.with(&call.label, |t| {
            t.in_flight = t.in_flight.saturating_sub(1);
            if probe {
                t.probing = false;
            }
            match ended {
                // Cut short (the caller went away): says nothing of it.
                None => {}
                Some(Ended::Answered(ttft)) => {
                    let seconds = ttft.as_secs_f64();
                    t.ttft = Some(
                        t.ttft
                            .map_or(seconds, |avg| avg + EWMA_WEIGHT * (seconds - avg)),
                    );
                    t.failures.clear();
                    t.open_until = None;
                }
                // It answered; the fault is not its own: a probe closes.
                Some(Ended::Failed(error)) if !targets_fault(error.code) && probe => {
                    t.failures.clear();
                    t.open_until = None;
                }
                Some(Ended::Failed(error)) if !targets_fault(error.code) => {}
                Some(Ended::Failed(error)) => {
                    t.failed_total += 1;
                    let window = Duration::from_millis(cooldown.window_ms);
                    while t
                        .failures
                        .front()
                        .is_some_and(|at| now.duration_since(*at) > window)
                    {
                        t.failures.pop_front();
                    }
                    t.failures.push_back(now);
                    let asked = (error.code == ErrorCode::RateLimited)
                        .then_some(error.retry_after_ms)
                        .flatten()
                        .map(|ms| Duration::from_millis(ms).min(MAX_RETRY_AFTER));
                    let tripped = probe
                        || u32::try_from(t.failures.len()).unwrap_or(u32::MAX) >= cooldown.failures;
                    let cool = Duration::from_millis(cooldown.cooldown_ms);
                    let until = match (asked, tripped) {
                        (Some(asked), true) => Some(now + asked.max(cool)),
                        (Some(asked), false) => Some(now + asked),
                        (None, true) => Some(now + cool),
                        (None, false) => None,
                    };
                    if let Some(until) = until {
                        t.open_until = Some(t.open_until.map_or(until, |u| u.max(until)));
                        t.failures.clear();
                    }
                }
            }
        });
    }
}

/// The failures that are the target's own: they count towards its
/// cooldown. Any other answer shows the target alive.
fn targets_fault(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::RateLimited
            | ErrorCode::UpstreamUnavailable
            | ErrorCode::Timeout
            | ErrorCode::UpstreamError
    )
}

/// A call of a target in flight; `finish` records how it ended, and
/// dropping it unfinished counts it out without a verdict.
pub(crate) struct Call {
    health: Health,
    label: String,
    /// This call probes a half-open target.
    probe: bool,
    ended: bool,
}

impl Call {
    pub(crate) fn finish(mut self, ended: Ended<'_>, cooldown: &CooldownSpec) {
        self.ended = true;
        self.health.clone().end(&self, Some(ended), cooldown);
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.ended {
            self.health
                .clone()
                .end(self, None, &CooldownSpec::default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(health: &Health, label: &str, error: &TaskError, spec: &CooldownSpec) {
        health
            .begin(label)
            .unwrap()
            .finish(Ended::Failed(error), spec);
    }

    #[test]
    fn a_target_cools_down_after_n_failures_then_one_probe_decides() {
        let health = Health::default();
        let spec = CooldownSpec {
            failures: 2,
            window_ms: 60_000,
            cooldown_ms: 30,
        };
        let down = TaskError::new(ErrorCode::UpstreamUnavailable, "down");
        fail(&health, "a/x", &down, &spec);
        assert_eq!(health.of("a/x").state, State::Healthy);
        fail(&health, "a/x", &down, &spec);
        assert_eq!(health.of("a/x").state, State::CoolingDown);
        assert!(health.begin("a/x").is_none(), "skipped while cooling down");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(health.of("a/x").state, State::HalfOpen);
        let probe = health.begin("a/x").expect("one probe");
        assert!(health.begin("a/x").is_none(), "only one probe at a time");
        // The probe fails: cooling down again at once.
        probe.finish(Ended::Failed(&down), &spec);
        assert_eq!(health.of("a/x").state, State::CoolingDown);
        std::thread::sleep(Duration::from_millis(40));
        health
            .begin("a/x")
            .unwrap()
            .finish(Ended::Answered(Duration::from_millis(5)), &spec);
        assert_eq!(health.of("a/x").state, State::Healthy);
    }

    #[test]
    fn a_rate_limit_cools_the_target_for_its_retry_after_and_the_callers_faults_do_not_count() {
        let health = Health::default();
        let spec = CooldownSpec::default();
        let mut limited = TaskError::new(ErrorCode::RateLimited, "slow down");
        limited.retry_after_ms = Some(20_000);
        fail(&health, "a/x", &limited, &spec);
        let left = health.of("a/x").cooldown_left_ms.unwrap();
        assert!((19_000..=20_000).contains(&left), "{left}");
        for _ in 0..10 {
            fail(
                &health,
                "b/y",
                &TaskError::new(ErrorCode::InvalidRequest, "bad"),
                &spec,
            );
        }
        assert_eq!(health.of("b/y").state, State::Healthy);
        assert_eq!(health.of("b/y").failures_total, 0);
    }

    #[test]
    fn in_flight_calls_are_counted_until_they_end_or_are_dropped() {
        let health = Health::default();
        let one = health.begin("a/x").unwrap();
        let two = health.begin("a/x").unwrap();
        assert_eq!(health.load("a/x").0, 2);
        drop(one);
        two.finish(
            Ended::Answered(Duration::from_millis(100)),
            &CooldownSpec::default(),
        );
        assert_eq!(health.load("a/x"), (0, Some(0.1)));
    }
}
