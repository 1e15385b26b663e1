//! Admitting a tenant's request against its key's limits: one transaction
//! that first updates the key's row (so that, on PostgreSQL, every process
//! admitting for the same key waits for the others: the counts below are
//! exact, not per process), then stores what it admits (a task, or a `/v1`
//! call in flight) and checks rpm, tpm, max_parallel and the budget,
//! rolling everything back when one is over. A revoked key is refused here
//! too, even after it passed authentication.
//!
//! tpm counts reservations: an admitted request adds the tokens it may use
//! (`reserve`, estimated by the caller) to its key's minute at once, so
//! that requests in flight count before they finish. What each attempt
//! really used is added to the same minute when it is recorded, and the
//! reservation given back when the request ends (for a task, in the
//! statement that ends it, whichever process or path: `transitions`; for a
//! `/v1` call, by `usage::record_call` and `end_call`). A request is
//! admitted while its minute's tokens are under the limit, so a minute
//! goes over it by at most the last request admitted.

use std::time::Duration;

use crate::backend::on_writer;
use crate::keys::KeyLimits;
use crate::row::{TASK_COLUMNS, TaskRow, json};
use crate::task::Task;
use crate::{Inserted, NewTask, Result, Store, now_ms};

/// rpm and tpm count per clock minute.
pub const WINDOW_MS: i64 = 60_000;

/// The key's minute as admission left it: what `x-ratelimit-*` says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    /// Requests admitted this minute, this one included.
    pub requests: i64,
    /// Tokens used and reserved this minute, this request's reservation
    /// included.
    pub tokens: i64,
    /// When this minute ends (Unix ms).
    pub resets_at_ms: i64,
}

/// Which limit refused a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The key was revoked (after the request was authenticated).
    Revoked,
    Requests {
        limit: u32,
    },
    Tokens {
        limit: u64,
    },
    Parallel {
        limit: u32,
    },
    /// The period's spend reached the budget; the next period starts at
    /// `resets_at_ms`, if the budget has a period.
    Budget {
        budget_nanousd: i64,
        spent_nanousd: i64,
        resets_at_ms: Option<i64>,
    },
}

/// What admission decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Admission<T> {
    Admitted(T, Window),
    /// Nothing was stored.
    Refused(Limit, Window),
}

/// The start of the budget period `now` falls in: periods follow each other
/// from the key's creation.
pub fn period_start(created_at_ms: i64, period_ms: i64, now: i64) -> i64 {
    let elapsed = (now - created_at_ms).max(0);
    created_at_ms + elapsed / period_ms * period_ms
}

/// What the statement before the checks stored, or that it found the
/// idempotency key used before.
enum Stored {
    Task(Box<TaskRow>),
    Call,
    EarlierSubmission,
}

/// `lock_key!(tx, key_id, now)`: updates the key's row (its last use),
/// which locks it on PostgreSQL until the transaction ends; the row, or
/// `None` if the key is revoked or gone.
macro_rules! lock_key {
    ($tx:ident, $key_id:expr, $now:expr) => {{
        let row: Option<crate::keys::KeyRow> = sqlx::query_as(&format!(
            "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND revoked_at IS NULL \
             RETURNING {}",
            crate::keys::KEY_COLUMNS
        ))
        .bind($key_id)
        .bind($now)
        .fetch_optional(&mut *$tx)
        .await?;
        row
    }};
}

/// `give_back!(tx, key_id, window_start, tokens)`: takes `tokens` out of
/// the key's minute (a minute that is over may be gone: nothing then).
macro_rules! give_back {
    ($tx:ident, $key_id:expr, $window_start:expr, $tokens:expr) => {
        sqlx::query(
            "UPDATE key_windows SET tokens = tokens - $3 WHERE key_id = $1 AND window_start = $2",
        )
        .bind($key_id)
        .bind($window_start)
        .bind($tokens)
        .execute(&mut *$tx)
        .await?
    };
}
pub(crate) use give_back;

/// The counting half of an admission, inside its transaction (`tx`, a
/// `Transaction` of either backend): counts the request in the key's
/// minute, reads what is in flight and spent, decides, and commits or rolls
/// back. Evaluates to `(Option<Admission<()>>, Stored)`.
macro_rules! admit_checks {
    ($tx:ident, $key:ident, $key_id:ident, $now:ident, $reserve:expr, $stored:expr) => {{
        let stored = $stored;
        let created = $key.created_at_ms();
        let key = crate::keys::ApiKey::try_from($key)?;
        let limits = key.limits;
        let window_start = $now - $now.rem_euclid(WINDOW_MS);
        let reserve: i64 = $reserve;
        let (requests, tokens): (i64, i64) = sqlx::query_as(
            "INSERT INTO key_windows (key_id, window_start, requests, tokens) \
             VALUES ($1, $2, 1, $3) \
             ON CONFLICT (key_id, window_start) DO UPDATE SET \
                 requests = key_windows.requests + 1, tokens = key_windows.tokens + $3 \
             RETURNING requests, tokens",
        )
        .bind($key_id)
        .bind(window_start)
        .bind(reserve)
        .fetch_one(&mut *$tx)
        .await?;
        // The minute's tokens before this request's reservation decide.
        let tokens_before = tokens - reserve;
        if requests == 1 {
            // The minute's first request clears the key's older minutes.
            sqlx::query("DELETE FROM key_windows WHERE key_id = $1 AND window_start < $2")
                .bind($key_id)
                .bind(window_start)
                .execute(&mut *$tx)
                .await?;
        }
        let in_flight: i64 = match limits.max_parallel {
            None => 0,
            Some(_) => {
                sqlx::query_scalar(
                    "SELECT (SELECT COUNT(*) FROM tasks WHERE key_id = $1 \
                         AND status IN ('pending', 'running')) \
                     + (SELECT COUNT(*) FROM key_calls WHERE key_id = $1 AND expires_at > $2)",
                )
                .bind($key_id)
                .bind($now)
                .fetch_one(&mut *$tx)
                .await?
            }
        };
        let spent_nanousd: i64 = match limits.budget_nanousd {
            None => 0,
            Some(_) => {
                let since = limits
                    .budget_period_ms
                    .map_or(0, |p| period_start(created, p, $now));
                sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(cost_nanousd), 0) AS BIGINT) FROM usage_records \
                     WHERE key_id = $1 AND recorded_at >= $2",
                )
                .bind($key_id)
                .bind(since)
                .fetch_one(&mut *$tx)
                .await?
            }
        };
        let counts = Counts {
            requests,
            tokens: tokens_before,
            in_flight,
            spent_nanousd,
        };
        let window = Window {
            rpm: limits.rpm,
            tpm: limits.tpm,
            requests,
            tokens,
            resets_at_ms: window_start + WINDOW_MS,
        };
        match decide(&limits, created, &counts, $now) {
            Some(limit) => {
                $tx.rollback().await?;
                (Some(Admission::Refused(limit, window)), stored)
            }
            None => {
                $tx.commit().await?;
                (Some(Admission::Admitted((), window)), stored)
            }
        }
    }};
}

impl Store {
    /// Stores a tenant's task as `pending`, owned by `key_id`, if its key's
    /// limits admit it, with `reserve` tokens reserved in its key's minute
    /// until it ends. An `Idempotency-Key` is the key's own: another key
    /// using the same one neither finds nor conflicts with this task.
    pub async fn admit_task(
        &self,
        key_id: &str,
        task: &NewTask,
        reserve: u64,
    ) -> Result<Admission<Inserted>> {
        let reserve = i64::try_from(reserve).unwrap_or(i64::MAX);
        let idempotency = task
            .idempotency
            .as_ref()
            .map(|i| (format!("{key_id}/{}", i.key), i.request_hash.clone()));
        let insert = format!(
            "INSERT INTO tasks (id, status, provider, model, input, metadata, max_attempts, \
                 timeout_ms, run_at, created_at, updated_at, idempotency_key, request_hash, key_id, \
                 reserved_tokens, reserved_window, route) \
             VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7, $8, $8, $8, $9, $10, $11, $12, $13, \
                 $14) \
             ON CONFLICT (idempotency_key) DO NOTHING \
             RETURNING {TASK_COLUMNS}"
        );
        let timeout = task
            .timeout_ms
            .map(|t| i64::try_from(t).unwrap_or(i64::MAX));
        let now = now_ms();
        let (admission, stored) = on_writer!(self.backend(), |conn| {
            let mut tx = sqlx::Connection::begin(conn).await?;
            match lock_key!(tx, key_id, now) {
                None => (Some(revoked()), Stored::Call),
                Some(key) => {
                    let row: Option<TaskRow> = sqlx::query_as(&insert)
                        .bind(&task.id)
                        .bind(&task.provider)
                        .bind(&task.model)
                        .bind(json(&task.input))
                        .bind(task.metadata.as_ref().map(json))
                        .bind(i64::from(task.max_attempts))
                        .bind(timeout)
                        .bind(now)
                        .bind(idempotency.as_ref().map(|i| i.0.as_str()))
                        .bind(idempotency.as_ref().map(|i| i.1.as_str()))
                        .bind(key_id)
                        .bind(reserve)
                        .bind(now - now.rem_euclid(WINDOW_MS))
                        .bind(task.route.as_deref())
                        .fetch_optional(&mut *tx)
                        .await?;
                    match row {
                        // A repeated submission is answered, not admitted
                        // again.
                        None => {
                            tx.rollback().await?;
                            (None, Stored::EarlierSubmission)
                        }
                        Some(row) => {
                            admit_checks!(
                                tx,
                                key,
                                key_id,
                                now,
                                reserve,
                                Stored::Task(Box::new(row))
                            )
                        }
                    }
                }
            }
        });
        self.finish_admission(admission, stored, idempotency).await
    }

    /// Admits one synchronous `/v1` call of `key_id`, counted in flight
    /// until `end_call` (or, if this process dies first, until `deadline`),
    /// with `reserve` tokens reserved in its key's minute until its usage
    /// is recorded or it ends.
    pub async fn admit_call(
        &self,
        key_id: &str,
        call_id: &str,
        deadline: Duration,
        reserve: u64,
    ) -> Result<Admission<()>> {
        let reserve = i64::try_from(reserve).unwrap_or(i64::MAX);
        let now = now_ms();
        let expires = now.saturating_add(i64::try_from(deadline.as_millis()).unwrap_or(i64::MAX));
        let (admission, _) = on_writer!(self.backend(), |conn| {
            let mut tx = sqlx::Connection::begin(conn).await?;
            match lock_key!(tx, key_id, now) {
                None => (Some(revoked()), Stored::Call),
                Some(key) => {
                    sqlx::query(
                        "INSERT INTO key_calls (id, key_id, expires_at, reserved_tokens, \
                             window_start) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(call_id)
                    .bind(key_id)
                    .bind(expires)
                    .bind(reserve)
                    .bind(now - now.rem_euclid(WINDOW_MS))
                    .execute(&mut *tx)
                    .await?;
                    admit_checks!(tx, key, key_id, now, reserve, Stored::Call)
                }
            }
        });
        Ok(match admission {
            Some(Admission::Admitted((), window)) => Admission::Admitted((), window),
            Some(Admission::Refused(limit, window)) => Admission::Refused(limit, window),
            None => unreachable!("a call has no idempotency key"),
        })
    }

    /// A `/v1` call ended: it no longer counts in flight, and what is
    /// left of its reservation is given back (so are those of calls whose
    /// process died, once their deadline passed).
    pub async fn end_call(&self, call_id: &str) -> Result<()> {
        on_writer!(self.backend(), |conn| {
            let mut tx = sqlx::Connection::begin(conn).await?;
            let ended: Vec<(String, i64, i64)> = sqlx::query_as(
                "DELETE FROM key_calls WHERE id = $1 OR expires_at < $2 \
                 RETURNING key_id, window_start, reserved_tokens",
            )
            .bind(call_id)
            .bind(now_ms())
            .fetch_all(&mut *tx)
            .await?;
            for (key_id, window_start, reserved) in ended {
                if reserved != 0 {
                    give_back!(tx, &key_id, window_start, reserved);
                }
            }
            tx.commit().await?
        });
        Ok(())
    }

    async fn finish_admission(
        &self,
        admission: Option<Admission<()>>,
        stored: Stored,
        idempotency: Option<(String, String)>,
    ) -> Result<Admission<Inserted>> {
        match (admission, stored) {
            (Some(Admission::Refused(limit, window)), _) => Ok(Admission::Refused(limit, window)),
            (Some(Admission::Admitted((), window)), Stored::Task(row)) => {
                self.wake_workers();
                Ok(Admission::Admitted(
                    Inserted::Created(Task::try_from(*row)?),
                    window,
                ))
            }
            _ => {
                let (key, hash) = idempotency.expect("only a keyed insert finds an earlier one");
                let earlier = self.earlier_submission(&key, &hash).await?;
                Ok(Admission::Admitted(earlier, Window::default()))
            }
        }
    }
}

fn revoked() -> Admission<()> {
    Admission::Refused(Limit::Revoked, Window::default())
}

/// What the checks read, beside the key.
pub(crate) struct Counts {
    pub(crate) requests: i64,
    pub(crate) tokens: i64,
    pub(crate) in_flight: i64,
    pub(crate) spent_nanousd: i64,
}

/// The one decision, from the key's limits and the counts that include the
/// request being admitted.
pub(crate) fn decide(
    limits: &KeyLimits,
    created_at_ms: i64,
    counts: &Counts,
    now: i64,
) -> Option<Limit> {
    if let Some(limit) = limits.rpm
        && counts.requests > i64::from(limit)
    {
        return Some(Limit::Requests { limit });
    }
    if let Some(limit) = limits.tpm
        && counts.tokens >= i64::try_from(limit).unwrap_or(i64::MAX)
    {
        return Some(Limit::Tokens { limit });
    }
    if let Some(limit) = limits.max_parallel
        && counts.in_flight > i64::from(limit)
    {
        return Some(Limit::Parallel { limit });
    }
    if let Some(budget) = limits.budget_nanousd
        && counts.spent_nanousd >= budget
    {
        return Some(Limit::Budget {
            budget_nanousd: budget,
            spent_nanousd: counts.spent_nanousd,
            resets_at_ms: limits
                .budget_period_ms
                .map(|p| period_start(created_at_ms, p, now) + p),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_periods_follow_each_other_from_the_keys_creation() {
        assert_eq!(period_start(1_000, 100, 1_000), 1_000);
        assert_eq!(period_start(1_000, 100, 1_099), 1_000);
        assert_eq!(period_start(1_000, 100, 1_100), 1_100);
        assert_eq!(period_start(1_000, 100, 1_350), 1_300);
    }

    #[test]
    fn each_limit_refuses_only_past_its_value() {
        let counts = |requests, tokens, in_flight, spent_nanousd| Counts {
            requests,
            tokens,
            in_flight,
            spent_nanousd,
        };
        let limits = KeyLimits {
            rpm: Some(2),
            tpm: Some(100),
            max_parallel: Some(1),
            budget_nanousd: Some(10),
            budget_period_ms: Some(1_000),
        };
        assert_eq!(decide(&limits, 0, &counts(2, 99, 1, 9), 5), None);
        assert_eq!(
            decide(&limits, 0, &counts(3, 0, 0, 0), 5),
            Some(Limit::Requests { limit: 2 })
        );
        assert_eq!(
            decide(&limits, 0, &counts(1, 100, 0, 0), 5),
            Some(Limit::Tokens { limit: 100 })
        );
        assert_eq!(
            decide(&limits, 0, &counts(1, 0, 2, 0), 5),
            Some(Limit::Parallel { limit: 1 })
        );
        assert_eq!(
            decide(&limits, 0, &counts(1, 0, 1, 10), 1_500),
            Some(Limit::Budget {
                budget_nanousd: 10,
                spent_nanousd: 10,
                resets_at_ms: Some(2_000)
            })
        );
        assert_eq!(
            decide(&KeyLimits::default(), 0, &counts(9, 9, 9, 9), 5),
            None
        );
    }
}
