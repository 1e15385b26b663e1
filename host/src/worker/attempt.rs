//! One attempt of a claimed task: the call of the provider it names, or
//! its route's targets in the route's order (`routing::run_while`), each
//! target called recorded in the attempt's log, which the outcome's write
//! stores with it; over a route the targets already tried are also written
//! before the next one is called (`Store::log_progress`), so a `kill -9`
//! further down the route keeps them. A route moves on only while no text
//! of the attempt was stored for watchers. A target that was never called
//! (its instance is gone, or it cannot take the request) leaves no record:
//! no attempt was made.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use llmhost_store::ClaimedTask;
use llmhost_store::error_code::ErrorCode;
use llmhost_store::task::{AttemptOutcome, AttemptRecord, TaskError, TaskResult};

use super::{Worker, deltas};
use crate::routing::{Answered, Routes, Target, run_while};
use crate::{capability, convert};

/// The targets an attempt called, as they ended; kept outside the call so
/// that a cancel or a shutdown that ends it early still has them.
#[derive(Default)]
pub(super) struct Tried(Mutex<Vec<AttemptRecord>>);

impl Tried {
    fn push(&self, record: AttemptRecord) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
    }

    fn is_empty(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// The task's log after this attempt: what earlier ones tried, then
    /// this one's targets.
    pub(super) fn log(&self, task: &ClaimedTask) -> Vec<AttemptRecord> {
        let mine = self.0.lock().unwrap_or_else(|e| e.into_inner());
        task.attempt_log
            .iter()
            .chain(mine.iter())
            .cloned()
            .collect()
    }
}

impl Worker {
    /// Calls what the task names, and nothing else, over `routes` (those
    /// in force when it was claimed). Sets `stored` when streamed text was
    /// stored for watchers.
    pub(super) async fn execute(
        &self,
        task: &ClaimedTask,
        routes: &Routes,
        stored: &AtomicBool,
        tried: &Tried,
    ) -> Result<TaskResult, TaskError> {
        let Some(alias) = &task.route else {
            let target = Target {
                instance: task.provider.clone(),
                model: task.model.clone(),
                weight: 1,
            };
            return self
                .call(task, &target, stored, tried)
                .await
                .map(|answered| answered.value);
        };
        // Resolved at submit; a reload before the claim may have removed it.
        let Some(route) = routes.get(alias) else {
            return Err(TaskError::new(
                ErrorCode::ProviderNotFound,
                format!(
                    "route {alias:?} is not configured any more; routes: {}",
                    routes.names().join(", ")
                ),
            ));
        };
        let (answer, _) = run_while(
            route,
            &self.health,
            |target| {
                let target = target.clone();
                async move {
                    // The walk moved on: what it left is written before the
                    // next target is called (never after the last one, whose
                    // outcome's write carries the log anyway).
                    if !tried.is_empty() {
                        self.log_progress(task, tried).await;
                    }
                    self.call(task, &target, stored, tried).await
                }
            },
            || !stored.load(Ordering::Relaxed),
        )
        .await;
        answer.map(|(_, result)| result)
    }

    /// Writes the targets this routed attempt has tried so far, before it
    /// calls the next, so that a worker killed further down the route does
    /// not take them with it. A write that fails is only logged, and one
    /// that finds the task lost changes nothing: the outcome's write, fenced
    /// the same way, follows.
    async fn log_progress(&self, task: &ClaimedTask, tried: &Tried) {
        let written = self
            .store
            .log_progress(&task.id, task.attempt, &tried.log(task))
            .await;
        if let Err(err) = written {
            tracing::warn!("writing the targets tried so far failed: {err}");
        }
    }

    /// One call of one target, streamed into the task's deltas; with the
    /// time its first piece took when it streamed.
    async fn call(
        &self,
        task: &ClaimedTask,
        target: &Target,
        stored: &AtomicBool,
        tried: &Tried,
    ) -> Result<Answered<TaskResult>, TaskError> {
        let Some(plugin) = self.runtime.get(&target.instance) else {
            return Err(TaskError::provider_not_found(
                &target.instance,
                &self.runtime.names(),
            ));
        };
        // Checked at submit; again here, as the plugin may have been
        // replaced by one that declares less since.
        let request =
            capability::admit(Some(&plugin), &target.instance, &target.model, &task.input)
                .map_err(TaskError::from)?;
        let deadline = task
            .timeout_ms
            .map_or(self.config.default_timeout, Duration::from_millis);
        let started_at = chrono::Utc::now();
        let started = Instant::now();
        let (sink, streamed) = llmhost_runtime::delta_channel();
        let call = async move { plugin.stream(&request, deadline, &sink).await };
        let persist = deltas::persist(&self.store, &task.id, task.attempt, streamed, stored);
        let (answer, first_piece) = tokio::join!(call, persist);
        let took = started.elapsed();
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.metrics.observe_provider_call(&target.instance, took);
        let outcome = convert::outcome(answer);
        let first_token = first_piece.map(|at| at.duration_since(started));
        tried.push(AttemptRecord {
            attempt: task.attempt,
            target: target.label(),
            outcome: match &outcome {
                Ok(_) => AttemptOutcome::Completed,
                Err(_) => AttemptOutcome::Failed,
            },
            error_code: outcome.as_ref().err().map(|e| e.code.as_str().to_owned()),
            duration_ms: millis(took),
            // An answer that did not stream came whole: its first token
            // arrived with it.
            first_token_ms: first_token
                .map(millis)
                .or_else(|| outcome.is_ok().then(|| millis(took))),
            started_at,
        });
        outcome.map(|value| Answered { value, first_token })
    }
}
