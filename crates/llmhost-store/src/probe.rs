//! Whether the store can commit now, answered within a deadline: what
//! readiness (`/readyz`) asks. A probe is one real write, through the same
//! writer every transition uses, so a full disk, a lost connection or a
//! writer stuck behind a frozen statement all fail it.

use std::time::Duration;

use crate::backend::on_writer;
use crate::{Result, Store, StoreError, now_ms};

impl Store {
    /// Commits one write within `deadline`; the error says why not (its
    /// `outage()` names the kind).
    pub async fn probe_commit(&self, deadline: Duration) -> Result<()> {
        let write = async {
            on_writer!(self.backend(), |pool| {
                sqlx::query(
                    "INSERT INTO store_probe (id, probed_at) VALUES (1, $1) \
                     ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at",
                )
                .bind(now_ms())
                .execute(pool)
                .await
                .map(|_| ())?
            });
            Ok(())
        };
        tokio::time::timeout(deadline, write)
            .await
            .unwrap_or(Err(StoreError::timeout(deadline)))
    }
}
