//! What a failed attempt becomes: the retry rule, read here and nowhere
//! else. A failure is retried when the error table calls its code
//! retryable (`ErrorCode::retryable`, `error_code.rs`) and the task has
//! attempts left (`attempt < max_attempts`), after an exponential backoff
//! with jitter; otherwise the task fails. The store's statements check the
//! attempts again only as a fence (`Store::retry`'s WHERE clause). The
//! rescuer's edge is the one other way back to `pending`: an expired lease
//! is retried whatever the failure while attempts are left, in the rescue
//! statement (`transitions/rescue.rs`), since no worker is there to decide.

use std::time::Duration;

use rand::Rng;

use llmhost_store::task::{AttemptRecord, TaskError};
use llmhost_store::{ClaimedTask, Fenced, Retry};

use super::{Worker, WorkerConfig};

/// What the retry rule says of a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
enum AfterFailure {
    /// Back to `pending`, due after this delay.
    RetryAfter(Duration),
    Fail,
}

/// The retry rule.
fn after_failure(config: &WorkerConfig, task: &ClaimedTask, error: &TaskError) -> AfterFailure {
    if error.code.retryable() && task.attempt < task.max_attempts {
        AfterFailure::RetryAfter(backoff(config, task.attempt, error.retry_after_ms))
    } else {
        AfterFailure::Fail
    }
}

/// Exponential backoff with jitter (half to all of `base * 2^(attempt-1)`,
/// capped at `retry_max`), never sooner than the upstream asked, and never
/// later than `retry_delay_max`: a `retry-after` is the upstream's (through
/// a plugin), so it is a wish bounded by the operator, not a schedule.
fn backoff(config: &WorkerConfig, attempt: u32, retry_after_ms: Option<u64>) -> Duration {
    let exp = config
        .retry_base
        .saturating_mul(1 << attempt.saturating_sub(1).min(16));
    let capped = exp.min(config.retry_max);
    let jittered = capped.mul_f64(rand::rng().random_range(0.5..=1.0));
    jittered
        .max(Duration::from_millis(retry_after_ms.unwrap_or(0)))
        .min(config.retry_delay_max)
}

impl Worker {
    /// Records a failed attempt as the retry rule says: a retry, or the
    /// task's failure. A retry the store refuses records the end it names
    /// instead (a requested cancel, or attempts used up).
    pub(super) async fn record_failure(
        &self,
        task: &ClaimedTask,
        error: &TaskError,
        log: &[AttemptRecord],
    ) -> llmhost_store::Result<Fenced> {
        // The message may be a plugin's: escaped, so it cannot forge lines.
        let message = llmhost_runtime::escape::Escaped(&error.message);
        tracing::info!(error_code = %error.code, "attempt failed: {message}");
        self.metrics.count_attempt_errors(error.code.as_str(), 1);
        let delay = match after_failure(&self.config, task, error) {
            AfterFailure::RetryAfter(delay) => delay,
            AfterFailure::Fail => {
                return self
                    .store
                    .fail_logged(&task.id, task.attempt, error, log)
                    .await;
            }
        };
        match self
            .store
            .retry_logged(&task.id, task.attempt, error, delay, log)
            .await?
        {
            Retry::Scheduled => Ok(Fenced::Applied),
            Retry::CancelRequested => {
                self.store
                    .record_cancelled_logged(&task.id, task.attempt, log)
                    .await
            }
            Retry::AttemptsUsedUp => {
                self.store
                    .fail_logged(&task.id, task.attempt, error, log)
                    .await
            }
            Retry::Lost => Ok(Fenced::Lost),
        }
    }
}

#[cfg(test)]
mod tests {
    use llmhost_store::error_code::ErrorCode;
    use llmhost_store::task::{Params, TaskInput};

    use super::*;

    fn claimed(attempt: u32, max_attempts: u32) -> ClaimedTask {
        ClaimedTask {
            id: "t".into(),
            attempt,
            max_attempts,
            provider: "echo".into(),
            model: "echo".into(),
            route: None,
            attempt_log: Vec::new(),
            input: TaskInput {
                messages: Vec::new(),
                tools: Vec::new(),
                params: Params::default(),
            },
            timeout_ms: None,
            due_at_ms: 0,
        }
    }

    #[test]
    fn a_retryable_failure_is_retried_while_attempts_are_left() {
        let config = WorkerConfig::default();
        let error = TaskError::new(ErrorCode::RateLimited, "slow down");
        assert!(matches!(
            after_failure(&config, &claimed(1, 3), &error),
            AfterFailure::RetryAfter(_)
        ));
        assert!(matches!(
            after_failure(&config, &claimed(2, 3), &error),
            AfterFailure::RetryAfter(_)
        ));
        assert_eq!(
            after_failure(&config, &claimed(3, 3), &error),
            AfterFailure::Fail,
            "the last attempt's failure is final"
        );
    }

    #[test]
    fn a_failure_the_error_table_does_not_retry_fails_at_once() {
        let config = WorkerConfig::default();
        for code in ErrorCode::ALL.into_iter().filter(|c| !c.retryable()) {
            let error = TaskError::new(code, "no");
            assert_eq!(
                after_failure(&config, &claimed(1, 3), &error),
                AfterFailure::Fail,
                "{code}"
            );
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let config = WorkerConfig::default();
        for attempt in 1..=10 {
            let full = config
                .retry_base
                .saturating_mul(1 << (attempt - 1))
                .min(config.retry_max);
            for _ in 0..50 {
                let delay = backoff(&config, attempt, None);
                assert!(
                    delay >= full / 2 && delay <= full,
                    "attempt {attempt}: {delay:?} vs {full:?}"
                );
            }
        }
    }

    #[test]
    fn no_retry_waits_longer_than_the_maximum_whatever_the_upstream_asks() {
        let config = WorkerConfig {
            retry_delay_max: Duration::from_millis(1_500),
            ..WorkerConfig::default()
        };
        for asked in [Some(u64::MAX), Some(u64::MAX / 2), Some(1_501), None] {
            for attempt in [1, 16, u32::MAX] {
                let delay = backoff(&config, attempt, asked);
                assert!(delay <= config.retry_delay_max, "{asked:?}: {delay:?}");
            }
        }
        assert_eq!(
            backoff(&config, 1, Some(u64::MAX)),
            config.retry_delay_max,
            "an endless retry-after waits the maximum"
        );
    }

    #[test]
    fn backoff_never_comes_before_the_upstreams_retry_after() {
        let config = WorkerConfig::default();
        let delay = backoff(&config, 1, Some(7_000));
        assert!(delay >= Duration::from_secs(7), "{delay:?}");
    }
}
