//! The lease rescuer, one in every worker process: returns the tasks of
//! workers that stopped renewing their leases (`Store::rescue_expired`;
//! where each goes is the store's rescue edge in
//! `TaskStatus::TRANSITIONS`). With the embedded store only this process
//! claims, so while no task runs there is no lease to expire and the
//! rescuer sleeps without a timer until the claimer takes one: an idle
//! host does not wake for it.

use std::sync::Arc;

use llmhost_store::error_code::ErrorCode;

use super::Worker;

impl Worker {
    /// Rescues every lease/2 while a lease may expire, so that a task
    /// waits at most about a lease and a half after its worker stopped.
    pub(super) async fn rescue_loop(self: Arc<Self>) {
        loop {
            self.until_a_lease_may_expire().await;
            tokio::time::sleep(self.config.lease / 2).await;
            match self.store.rescue_expired(llmhost_store::now_ms()).await {
                Ok(r) if r.total() > 0 => {
                    self.metrics
                        .count_attempt_errors(ErrorCode::LeaseExpired.as_str(), r.total());
                    tracing::warn!(
                        requeued = r.requeued,
                        failed = r.failed,
                        cancelled = r.cancelled,
                        "rescued tasks with expired leases"
                    );
                }
                Ok(_) => {}
                Err(err) => tracing::error!("rescuing expired leases failed: {err}"),
            }
        }
    }

    /// Returns at once with PostgreSQL (any process may hold a lease) and
    /// while a task runs; otherwise waits for this process's next claim.
    /// Asks the store rather than counting this process's running tasks:
    /// a row whose worker could not record its outcome stays `running`
    /// until its lease is rescued.
    async fn until_a_lease_may_expire(&self) {
        if !self.store.is_single_process() {
            return;
        }
        loop {
            // Registered before the look, so a claim in between still wakes us.
            let claimed = self.claimed.notified();
            tokio::pin!(claimed);
            claimed.as_mut().enable();
            match self.store.any_running().await {
                Ok(false) => claimed.await,
                Ok(true) => return,
                // Rescue as before: the statement will say what is wrong.
                Err(err) => {
                    tracing::warn!("looking for running tasks failed: {err}");
                    return;
                }
            }
        }
    }
}
