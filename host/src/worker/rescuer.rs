//! The lease rescuer, one in every worker process: returns the tasks of
//! workers that stopped renewing their leases (`Store::rescue_expired`;
//! where each goes is the store's rescue edge in
//! `TaskStatus::TRANSITIONS`).

use std::sync::Arc;

use llmhost_store::error_code::ErrorCode;

use super::Worker;

impl Worker {
    /// Rescues every lease/2, so that a task waits at most about a lease
    /// and a half after its worker stopped.
    pub(super) async fn rescue_loop(self: Arc<Self>) {
        loop {
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
}
