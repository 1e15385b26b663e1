//! The usage ledger: one row per provider call that reported its outcome,
//! and the reports over it. A task's completed attempt is recorded by the
//! database itself, in the statement that completes it (the trigger of
//! migration 0005); a synchronous `/v1` call by `record_call`, with its
//! tokens added to its key's minute (tpm) in the same transaction. Reports
//! sum integers (tokens, nano-dollars): a total is exactly the sum of its
//! rows.

use crate::backend::{on_reader, on_writer};
use crate::{Result, Store, now_ms};

/// One `/v1` call's usage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallUsage {
    pub key_id: Option<String>,
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
    /// Records a `/v1` call, and its tokens in its key's minute.
    pub async fn record_call(&self, usage: &CallUsage) -> Result<()> {
        let now = now_ms();
        let window_start = now - now.rem_euclid(crate::admission::WINDOW_MS);
        on_writer!(self.backend(), |conn| {
            let mut tx = sqlx::Connection::begin(conn).await?;
            sqlx::query(
                "INSERT INTO usage_records (key_id, provider, model, route, outcome, \
                     input_tokens, output_tokens, cached_tokens, reasoning_tokens, latency_ms, \
                     cost_nanousd, recorded_at) \
                 VALUES ($1, $2, $3, $4, 'ok', $5, $6, $7, $8, $9, $10, $11)",
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
            .execute(&mut *tx)
            .await?;
            if let Some(key_id) = &usage.key_id {
                sqlx::query(
                    "INSERT INTO key_windows (key_id, window_start, requests, tokens) \
                     VALUES ($1, $2, 0, $3) ON CONFLICT (key_id, window_start) \
                     DO UPDATE SET tokens = key_windows.tokens + excluded.tokens",
                )
                .bind(key_id)
                .bind(window_start)
                .bind(usage.input_tokens + usage.output_tokens)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?
        });
        Ok(())
    }

    /// The ledger summed per group, ordered by the groups.
    pub async fn usage(&self, query: &UsageQuery) -> Result<Vec<UsageGroup>> {
        let column = |by: GroupBy| match by {
            GroupBy::Key => "key_id",
            GroupBy::Provider => "provider",
            GroupBy::Model => "model",
            GroupBy::Day => "day",
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
            "SELECT {}, {}, {}, {}, COUNT(*) AS requests, {}, {}, {}, {}, {}, {} \
             FROM usage_records WHERE recorded_at >= $1 AND recorded_at < $2 {key_filter} \
             {group_clause}",
            select(GroupBy::Key, "key_id", "TEXT"),
            select(GroupBy::Provider, "provider", "TEXT"),
            select(GroupBy::Model, "model", "TEXT"),
            select(GroupBy::Day, &day, "BIGINT"),
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
}
