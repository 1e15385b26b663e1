//! The workers: claim pending tasks from the store, run them on the runtime
//! and record each outcome through the store's fenced transitions. A result
//! whose write is refused (the task was taken over) is logged and dropped.
//! Streamed text is stored as it arrives (`deltas`) for clients watching;
//! what a failed attempt becomes is `retry`'s to say; expired leases are the
//! `rescuer`'s.

mod attempt;
mod deltas;
mod rescuer;
mod retry;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::metrics::Metrics;
use crate::pricing::Prices;
use crate::routing::{Health, LiveRoutes, Routes};
use attempt::Tried;
use llmhost_runtime::Runtime;
use llmhost_store::task::{AttemptRecord, TaskError, TaskResult};
use llmhost_store::{ClaimedTask, Fenced, Heartbeat, Store};

#[derive(Clone, Debug)]
pub(crate) struct WorkerConfig {
    /// How many tasks run at once in this process.
    pub(crate) concurrency: usize,
    /// How long a claim holds a task without a heartbeat.
    pub(crate) lease: Duration,
    /// The longest a worker sleeps when it was not woken, with PostgreSQL
    /// (a fallback only: submissions wake workers at once).
    pub(crate) poll_interval: Duration,
    /// The deadline of a provider call when the task sets none.
    pub(crate) default_timeout: Duration,
    /// First retry delay; doubles with each attempt, up to `retry_max`.
    pub(crate) retry_base: Duration,
    pub(crate) retry_max: Duration,
    /// The longest any retry waits, even when an upstream's `retry-after`
    /// asks for longer.
    pub(crate) retry_delay_max: Duration,
    /// What a completed attempt cost (`[prices]`), written into its usage
    /// for the ledger.
    pub(crate) prices: Arc<Prices>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            default_timeout: Duration::from_secs(300),
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(60),
            retry_delay_max: Duration::from_secs(3_600),
            prices: Arc::default(),
        }
    }
}

/// How the pool stops: `stop_claiming` first (running tasks go on), then
/// `abort_running` (running tasks are handed back to `pending`).
#[derive(Clone, Default)]
pub(crate) struct Shutdown {
    pub(crate) stop_claiming: CancellationToken,
    pub(crate) abort_running: CancellationToken,
}

/// Starts the pool (up to `concurrency` tasks at once) and the lease
/// rescuer; the handle resolves when every running task has finished.
pub(crate) fn spawn_pool(
    store: Store,
    runtime: Arc<Runtime>,
    routes: LiveRoutes,
    health: Health,
    config: WorkerConfig,
    shutdown: Shutdown,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    let owner = format!(
        "{}-{}",
        std::process::id(),
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    let worker = Arc::new(Worker {
        store,
        runtime,
        routes,
        health,
        config,
        owner,
        shutdown,
        metrics,
        claimed: tokio::sync::Notify::new(),
    });
    tokio::spawn(async move {
        let rescuer = tokio::spawn(worker.clone().rescue_loop());
        worker.dispatch().await;
        rescuer.abort();
    })
}

struct Worker {
    store: Store,
    runtime: Arc<Runtime>,
    routes: LiveRoutes,
    health: Health,
    config: WorkerConfig,
    owner: String,
    shutdown: Shutdown,
    metrics: Arc<Metrics>,
    /// Raised after each claim that took a task: wakes the rescuer, which
    /// sleeps while nothing runs (`rescuer`).
    claimed: tokio::sync::Notify,
}

impl Worker {
    /// The pool's one claimer: whenever slots are free, claims as many due
    /// tasks as there are free slots in one statement and runs each in its
    /// own task. One claimer instead of one per slot means a submission
    /// costs one claim, not a stampede of empty ones, and a busy pool
    /// claims in batches. Returns when claiming stopped and every running
    /// task has finished.
    async fn dispatch(self: Arc<Self>) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut running = tokio::task::JoinSet::new();
        let signal = self.store.work_signal();
        while !self.shutdown.stop_claiming.is_cancelled() {
            let first = tokio::select! {
                // Checked first: a free slot must not win over a shutdown.
                biased;
                _ = self.shutdown.stop_claiming.cancelled() => break,
                permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            };
            let mut permits = vec![first];
            while let Ok(permit) = slots.clone().try_acquire_owned() {
                permits.push(permit);
            }
            // Registered before the claim, so a submission that lands between
            // an empty claim and the wait still wakes us.
            let woken = signal.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            // The signal may have come while the slots were taken.
            if self.shutdown.stop_claiming.is_cancelled() {
                break;
            }
            let asked = u32::try_from(permits.len()).unwrap_or(u32::MAX);
            // The routes in force when the tasks were claimed are the ones
            // they walk: a reload after a client saw a task `running` does
            // not change (or remove) its route under it.
            let routes = self.routes.current();
            match self
                .store
                .claim_batch(&self.owner, self.config.lease, asked)
                .await
            {
                Ok(tasks) => {
                    let drained = tasks.len() < permits.len();
                    if !tasks.is_empty() {
                        self.claimed.notify_waiters();
                    }
                    for (task, permit) in tasks.into_iter().zip(permits.drain(..)) {
                        let (worker, routes) = (self.clone(), routes.clone());
                        running.spawn(async move {
                            worker.run(task, &routes).await;
                            drop(permit);
                        });
                    }
                    drop(permits);
                    if drained {
                        let wait = self.idle_wait().await;
                        let timer = async {
                            match wait {
                                Some(wait) => tokio::time::sleep(wait).await,
                                None => std::future::pending().await,
                            }
                        };
                        tokio::select! {
                            _ = woken => {}
                            _ = timer => {}
                            _ = self.shutdown.stop_claiming.cancelled() => {}
                        }
                    }
                }
                Err(err) => {
                    drop(permits);
                    tracing::error!("claiming tasks failed: {err}");
                    tokio::select! {
                        _ = tokio::time::sleep(self.config.poll_interval) => {}
                        _ = self.shutdown.stop_claiming.cancelled() => {}
                    }
                }
            }
            while running.try_join_next().is_some() {}
        }
        while running.join_next().await.is_some() {}
    }

    /// How long the claimer sleeps unless woken: until the next retry is
    /// due, and no longer than `poll_interval` where another process may
    /// add work unannounced (PostgreSQL, whose notifications can be lost).
    /// With the embedded store every change that makes a task claimable
    /// is made in this process and wakes the claimer, so with nothing due
    /// it sleeps until woken: an idle host does not wake for it.
    async fn idle_wait(&self) -> Option<Duration> {
        let poll = (!self.store.is_single_process()).then_some(self.config.poll_interval);
        match self.store.next_due_in().await {
            Ok(Some(due)) => Some(poll.map_or(due, |poll| due.min(poll))),
            Ok(None) => poll,
            Err(_) => Some(self.config.poll_interval),
        }
    }

    async fn run(&self, task: ClaimedTask, routes: &Routes) {
        let waited = llmhost_store::now_ms().saturating_sub(task.due_at_ms);
        self.metrics
            .observe_claim(Duration::from_millis(u64::try_from(waited).unwrap_or(0)));
        let span = tracing::info_span!(
            "attempt",
            task_id = %task.id,
            provider = %task.provider,
            model = %task.model,
            attempt = task.attempt
        );
        async {
            let stored_deltas = AtomicBool::new(false);
            let tried = Tried::default();
            let outcome = tokio::select! {
                outcome = self.execute(&task, routes, &stored_deltas, &tried) => Outcome::Finished(Box::new(outcome)),
                end = self.keep_lease(&task) => end,
                _ = self.shutdown.abort_running.cancelled() => Outcome::ShuttingDown,
            };
            if let Err(err) = self.record(&task, outcome, &tried.log(&task)).await {
                tracing::error!("recording the outcome failed: {err}; the lease will expire and the task will be retried");
            }
            // The outcome holds the whole text now; the pieces can go, with
            // what an earlier attempt that was killed left behind.
            if (stored_deltas.load(Ordering::Relaxed) || task.attempt > 1)
                && let Err(err) = self.store.clear_deltas(&task.id, task.attempt).await
            {
                tracing::warn!("clearing streamed text failed: {err}");
            }
        }
        .instrument(span)
        .await
    }

    /// Renews the lease until the task is lost or a cancel is requested;
    /// never returns while the lease is ours and wanted.
    async fn keep_lease(&self, task: &ClaimedTask) -> Outcome {
        let every = self.config.lease / 3;
        loop {
            // A cancel request anywhere wakes every running task to check.
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.store.cancel_signal().notified() => {}
            }
            match self
                .store
                .heartbeat(&task.id, task.attempt, self.config.lease)
                .await
            {
                Ok(Heartbeat::Extended) => {}
                Ok(Heartbeat::CancelRequested) => return Outcome::CancelRequested,
                Ok(Heartbeat::Lost) => return Outcome::Lost,
                Err(err) => tracing::warn!("heartbeat failed: {err}"),
            }
        }
    }

    /// Writes the attempt's outcome, and with it the task's attempt log
    /// `log` (a shutdown's release keeps the log as it was: the attempt is
    /// run again from the start).
    async fn record(
        &self,
        task: &ClaimedTask,
        outcome: Outcome,
        log: &[AttemptRecord],
    ) -> llmhost_store::Result<()> {
        let written = match outcome {
            Outcome::Finished(finished) => match *finished {
                Ok(mut result) => {
                    // Priced by the target that answered (a route's, when
                    // the task names one).
                    let (provider, model) = answered_by(task, log);
                    self.config.prices.price(provider, model, &mut result);
                    self.store
                        .complete_logged(&task.id, task.attempt, &result, log)
                        .await?
                }
                Err(error) => self.record_failure(task, &error, log).await?,
            },
            Outcome::CancelRequested => {
                self.store
                    .record_cancelled_logged(&task.id, task.attempt, log)
                    .await?
            }
            Outcome::ShuttingDown => self.store.release(&task.id, task.attempt).await?,
            Outcome::Lost => Fenced::Lost,
        };
        if written == Fenced::Lost {
            tracing::warn!(
                "lost the task (taken over, cancelled or finished elsewhere); this attempt's outcome is dropped"
            );
        }
        Ok(())
    }
}

/// The `<instance>/<model>` whose answer completed the attempt: the last
/// target in its log, else the task's own provider and model.
fn answered_by<'t>(task: &'t ClaimedTask, log: &'t [AttemptRecord]) -> (&'t str, &'t str) {
    log.last()
        .filter(|r| r.attempt == task.attempt)
        .and_then(|r| r.target.split_once('/'))
        .unwrap_or((&task.provider, &task.model))
}

/// How an attempt ended, from the worker's point of view.
enum Outcome {
    /// Boxed: a result is much larger than the other outcomes.
    Finished(Box<Result<TaskResult, TaskError>>),
    CancelRequested,
    ShuttingDown,
    Lost,
}
