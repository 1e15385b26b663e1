//! The usage ledger: one row per provider call that ended (an attempt of a
//! task, or a call made for `/v1`, each target of a route its own), and the
//! reports over it. A task's attempt is recorded in the statement that
//! ends it, whatever ends it (on SQLite by the trigger of migration 0008,
//! on PostgreSQL by the statement itself: `transitions::bookkeeping`); a synchronous `/v1` call by `record_call`: with a tenant key,
//! its tokens added to its key's minute (tpm) in the same transaction;
//! without one, its row alone, in one statement shared with the other
//! keyless calls that end meanwhile (`batch.rs`). Reports sum
//! integers (tokens, nano-dollars): a total is exactly the sum of its rows.
//! Rows older than the retention window are rolled up (`roll_up_usage`):
//! one row per key, provider, model, route, outcome and day, with the
//! same sums, so reports over whole days do not change.

use crate::backend::{on_reader, on_writer};
use crate::placeholders::Placeholders;
use crate::{Result, Store, now_ms};

/// One `/v1` call's usage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallUsage {
    pub key_id: Option<String>,
    /// The admitted call (`Store::admit_call`) it belongs to: its tokens
    /// count in the minute the call was admitted in, and a successful
    /// answer gives the call's reservation back.
    pub call_id: Option<String>,
    /// `ok`, or the error code the call failed with.
    pub outcome: String,
    /// The instance called.
    pub provider: String,
    pub model: String,
    /// The alias the request named, if it was a route.
    pub route: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub reasoning_tokens: i64,
    pub latency_ms: i64,
    pub cost_nanousd: i64,
}

/// What a report groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Key,
    Provider,
    Model,
    /// The UTC day of the record.
    Day,
    /// `ok`, or the error code the call ended with (`interrupted` for an
    /// attempt whose process stopped first).
    Outcome,
}

/// Which records a report sums.
#[derive(Clone, Debug, Default)]
pub struct UsageQuery {
    pub group_by: Vec<GroupBy>,
    /// From this time (Unix ms), inclusive.
    pub from_ms: i64,
    /// To this time (Unix ms), exclusive.
    pub to_ms: i64,
    /// Only this key's records.
    pub key_id: Option<String>,
}

/// One group's sums; the fields it is not grouped by are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageGroup {
    pub key_id: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// Days since 1970-01-01 (UTC).
    pub day: Option<i64>,
    pub outcome: Option<String>,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub reasoning_tokens: i64,
    pub latency_ms: i64,
    pub cost_nanousd: i64,
}

const DAY_MS: i64 = 86_400_000;

impl Store {
    /// Records a `/v1` call, and its tokens in its key's minute: the
    /// minute its call was admitted in, whose reservation an `ok` answer
    /// gives back; without an admitted call, the current minute.
    pub async fn record_call(&self, usage: &CallUsage) -> Result<()> {
        if usage.key_id.is_none() && usage.call_id.is_none() {
            // Nothing but the row to write: no transaction around it, and
            // calls ending together share the statement.
            return self.batcher().record(usage.clone()).await;
        }
        let now = now_ms();
        let current = now - now.rem_euclid(crate::admission::WINDOW_MS);
        let tokens = usage.input_tokens + usage.output_tokens;
        let ok = usage.outcome == "ok";
        on_writer!(self.backend(), |conn| {
            let mut tx = sqlx::Connection::begin(conn).await?;
            let call: Option<(i64, i64)> = match &usage.call_id {
                None => None,
                Some(id) => {
                    sqlx::query_as(
                        "SELECT window_start, reserved_tokens FROM key_calls WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                }
            };
            if ok && call.is_some_and(|(_, reserved)| reserved != 0) {
                sqlx::query("UPDATE key_calls SET reserved_tokens = 0 WHERE id = $1")
                    .bind(usage.call_id.as_deref())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO usage_records (key_id, provider, model, route, outcome, \
                     input_tokens, output_tokens, cached_tokens, reasoning_tokens, latency_ms, \
                     cost_nanousd, recorded_at) \
                 VALUES ($1, $2, $3, $4, $12, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(usage.key_id.as_deref())
            .bind(&usage.provider)
            .bind(&usage.model)
            .bind(usage.route.as_deref())
            .bind(usage.input_tokens)
            .bind(usage.output_tokens)
            .bind(usage.cached_tokens)
            .bind(usage.reasoning_tokens)
            .bind(usage.latency_ms)
            .bind(usage.cost_nanousd)
            .bind(now)
            .bind(&usage.outcome)
            .execute(&mut *tx)
            .await?;
            match (&usage.key_id, call) {
                (None, _) => {}
                (Some(key_id), Some((window_start, reserved))) => {
                    let given_back = if ok { reserved } else { 0 };
                    if tokens != given_back {
                        crate::admission::give_back!(tx, key_id, window_start, given_back - tokens);
                    }
                }
                (Some(key_id), None) => {
                    sqlx::query(
                        "INSERT INTO key_windows (key_id, window_start, requests, tokens) \
                         VALUES ($1, $2, 0, $3) ON CONFLICT (key_id, window_start) \
                         DO UPDATE SET tokens = key_windows.tokens + excluded.tokens",
                    )
                    .bind(key_id)
                    .bind(current)
                    .bind(tokens)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?
        });
        Ok(())
    }

    /// Records a `/v1` call made without a key after its answer: queued
    /// at once, written within the record delay (`set_record_delay`)
    /// together with the others queued by then, one statement and one
    /// commit for all of them; a row that cannot be written is logged.
    /// Only for a keyless call: a key's call must be recorded
    /// (`record_call`) before its answer, since its key's next request is
    /// admitted against it.
    pub fn record_call_later(&self, usage: CallUsage) -> Result<()> {
        debug_assert!(usage.key_id.is_none() && usage.call_id.is_none());
        self.batcher().record_later(usage)
    }

    /// How long a row of `record_call_later` may wait for others before it
    /// is written; zero writes each as soon as the writer is free.
    pub fn set_record_delay(&self, delay: std::time::Duration) {
        self.batcher().set_record_delay(delay);
    }

    /// Returns once every row queued by `record_call_later` before it is
    /// written: at shutdown, and before the ledger is read.
    pub async fn flush_records(&self) -> Result<()> {
        self.batcher().flush().await
    }

    /// The ledger summed per group, ordered by the groups; rows this
    /// process queued (`record_call_later`) are written first, so a
    /// client reads the usage of calls it was answered.
    pub async fn usage(&self, query: &UsageQuery) -> Result<Vec<UsageGroup>> {
        self.flush_records().await?;
        let column = |by: GroupBy| match by {
            GroupBy::Key => "key_id",
            GroupBy::Provider => "provider",
            GroupBy::Model => "model",
            GroupBy::Day => "day",
            GroupBy::Outcome => "outcome",
        };
        let grouped = |by: GroupBy| query.group_by.contains(&by);
        let select = |by: GroupBy, expr: &str, null: &str| {
            if grouped(by) {
                format!("{expr} AS {}", column(by))
            } else {
                format!("CAST(NULL AS {null}) AS {}", column(by))
            }
        };
        let day = format!("recorded_at / {DAY_MS}");
        let groups: Vec<String> = [
            GroupBy::Key,
            GroupBy::Provider,
            GroupBy::Model,
            GroupBy::Day,
            GroupBy::Outcome,
        ]
        .into_iter()
        .filter(|by| grouped(*by))
        .map(|by| {
            if by == GroupBy::Day {
                day.clone()
            } else {
                column(by).to_owned()
            }
        })
        .collect();
        let group_clause = if groups.is_empty() {
            String::new()
        } else {
            format!("GROUP BY {0} ORDER BY {0}", groups.join(", "))
        };
        let key_filter = if query.key_id.is_some() {
            "AND key_id = $3"
        } else {
            ""
        };
        let sum = |c: &str| format!("CAST(COALESCE(SUM({c}), 0) AS BIGINT) AS {c}");
        let sql = format!(
            "SELECT {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {} \
             FROM usage_records WHERE recorded_at >= $1 AND recorded_at < $2 {key_filter} \
             {group_clause}",
            select(GroupBy::Key, "key_id", "TEXT"),
            select(GroupBy::Provider, "provider", "TEXT"),
            select(GroupBy::Model, "model", "TEXT"),
            select(GroupBy::Day, &day, "BIGINT"),
            select(GroupBy::Outcome, "outcome", "TEXT"),
            sum("requests"),
            sum("input_tokens"),
            sum("output_tokens"),
            sum("cached_tokens"),
            sum("reasoning_tokens"),
            sum("latency_ms"),
            sum("cost_nanousd"),
        );
        let rows: Vec<UsageGroup> = on_reader!(self.backend(), |pool| {
            let mut q = sqlx::query_as(&sql).bind(query.from_ms).bind(query.to_ms);
            if let Some(key_id) = &query.key_id {
                q = q.bind(key_id.as_str());
            }
            q.fetch_all(pool).await?
        });
        // Without a group, an empty ledger still sums to one row of zeros.
        Ok(rows
            .into_iter()
            .filter(|g| g.requests > 0 || groups.is_empty())
            .collect())
    }

    /// Rolls up the ledger's rows recorded before `before_ms` (which the
    /// caller puts on a day's start): one row per key, provider, model,
    /// route, outcome and day, stamped with the day's start, holding the
    /// same sums and how many calls it stands for. One transaction, so a
    /// report never sees a day both ways. Returns how many rows went.
    pub async fn roll_up_usage(&self, before_ms: i64) -> Result<u64> {
        let day = format!("(recorded_at - recorded_at % {DAY_MS})");
        let insert = format!(
            "INSERT INTO usage_records (key_id, provider, model, route, outcome, requests, \
                 input_tokens, output_tokens, cached_tokens, reasoning_tokens, latency_ms, \
                 cost_nanousd, recorded_at) \
             SELECT key_id, provider, model, route, outcome, SUM(requests), SUM(input_tokens), \
                 SUM(output_tokens), SUM(cached_tokens), SUM(reasoning_tokens), \
                 SUM(latency_ms), SUM(cost_nanousd), {day} \
             FROM usage_records WHERE recorded_at < $1 \
             GROUP BY key_id, provider, model, route, outcome, {day}"
        );
        // Two processes rolling up at once on PostgreSQL would each sum the
        // same rows: the second waits for the first, then finds them gone.
        let serialize = matches!(self.backend(), crate::backend::Backend::Postgres(_));
        let removed = on_writer!(self.backend(), |conn| {
            let mut tx = sqlx::Connection::begin(conn).await?;
            if serialize {
                sqlx::query("SELECT pg_advisory_xact_lock(7151826001)")
                    .execute(&mut *tx)
                    .await?;
            }
            // Only a day with more rows than groups has anything to roll up.
            let (rows, groups): (i64, i64) = sqlx::query_as(&format!(
                "SELECT CAST(COUNT(*) AS BIGINT), CAST(COUNT(DISTINCT \
                     COALESCE(key_id, '') || '|' || provider || '|' || model || '|' \
                     || COALESCE(route, '') || '|' || outcome || '|' || {day}) AS BIGINT) \
                 FROM usage_records WHERE recorded_at < $1"
            ))
            .bind(before_ms)
            .fetch_one(&mut *tx)
            .await?;
            if rows == groups {
                tx.rollback().await?;
                0
            } else {
                let last: i64 = sqlx::query_scalar(
                    "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM usage_records",
                )
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(&insert)
                    .bind(before_ms)
                    .execute(&mut *tx)
                    .await?;
                let removed =
                    sqlx::query("DELETE FROM usage_records WHERE recorded_at < $1 AND seq <= $2")
                        .bind(before_ms)
                        .bind(last)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                tx.commit().await?;
                removed
            }
        });
        Ok(removed)
    }
}

/// The ledger rows of `rows` keyless `/v1` calls, in one statement: eleven
/// parameters a row (the time they are recorded at last).
pub(crate) fn record_statement(rows: usize, placeholders: Placeholders) -> String {
    let values = placeholders.rows(rows, 11, |p| format!("(NULL, {})", p.join(", ")));
    format!(
        "INSERT INTO usage_records (key_id, provider, model, route, outcome, input_tokens, \
             output_tokens, cached_tokens, reasoning_tokens, latency_ms, cost_nanousd, \
             recorded_at) \
         VALUES {values}"
    )
}

/// Binds `rows` to `record_statement(rows.len(), _)`.
pub(crate) fn bind_records<'q, DB: sqlx::Database>(
    sql: &'q str,
    rows: impl IntoIterator<Item = &'q CallUsage>,
    now: i64,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::query(sql);
    for row in rows {
        query = query
            .bind(row.provider.as_str())
            .bind(row.model.as_str())
            .bind(row.route.as_deref())
            .bind(row.outcome.as_str())
            .bind(row.input_tokens)
            .bind(row.output_tokens)
            .bind(row.cached_tokens)
            .bind(row.reasoning_tokens)
            .bind(row.latency_ms)
            .bind(row.cost_nanousd)
            .bind(now);
    }
    query
}
