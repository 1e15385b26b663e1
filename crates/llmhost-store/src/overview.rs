//! The overview of recent work: how many tasks are in each status, how many
//! finished (completed, failed, cancelled) in each slice of a recent window,
//! and per provider how many finished and how long their final attempts ran
//! (p50/p95). Read-only; answered from indexes (`tasks_by_status`,
//! `tasks_by_completion`, `tasks_by_provider_completion`) without reading
//! task rows or sorting them, so that it stays fast on a large store.

use std::collections::{BTreeMap, HashMap};

use super::backend::{Backend, on_reader};
use super::{Result, Store};
use crate::liveness::on_postgres;
use crate::task::TaskStatus;

/// At most this many of the window's latest finished tasks give the
/// latency percentiles: enough for a steady p95, bounded on a busy store.
const LATENCY_SAMPLE: i64 = 5_000;

/// The window of an overview, in Unix ms, cut into `buckets` equal slices.
#[derive(Clone, Copy, Debug)]
pub struct OverviewQuery {
    pub since: i64,
    pub until: i64,
    pub buckets: u32,
}

impl OverviewQuery {
    /// The width of one slice, at least 1 ms.
    pub fn bucket_ms(&self) -> i64 {
        ((self.until - self.since) / i64::from(self.buckets.max(1))).max(1)
    }
}

/// One slice of the window: the tasks that finished in it, by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// The slice's start (Unix ms).
    pub start: i64,
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
}

/// One provider's finished tasks in the window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProviderStats {
    pub provider: String,
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
    /// Run time of the final attempt (claim to completion) of completed
    /// tasks among the latest `LATENCY_SAMPLE` finished in the window, in
    /// ms; `None` without any.
    pub p50_ms: Option<i64>,
    pub p95_ms: Option<i64>,
}

#[derive(Clone, Debug, Default)]
pub struct Overview {
    /// Every task in the store, by status (not only the window's).
    pub counts: HashMap<TaskStatus, i64>,
    /// Every slice of the window, oldest first, empty ones included.
    pub buckets: Vec<Bucket>,
    /// Providers with a finished task in the window, by name.
    pub providers: Vec<ProviderStats>,
}

impl Store {
    pub async fn overview(&self, query: OverviewQuery) -> Result<Overview> {
        let counts = self.count_by_status().await?;
        let slices = self.finished_per_slice(&query).await?;
        let totals = self.finished_per_provider(&query).await?;
        let samples = self.latency_samples(&query).await?;
        Ok(Overview {
            counts,
            buckets: buckets(&query, &slices),
            providers: providers(&totals, samples),
        })
    }

    /// Per slice, the tasks completed, failed and cancelled in it. On
    /// SQLite, range counts of `tasks_by_completion`, with no sort (a
    /// `GROUP BY` of the slice would sort every finished task of the
    /// window).
    async fn finished_per_slice(&self, query: &OverviewQuery) -> Result<Vec<(i64, i64, i64, i64)>> {
        // The last slice ends at the window's end (it takes the remainder
        // when the window does not divide evenly).
        let count = |status: &str| {
            format!(
                "(SELECT COUNT(*) FROM tasks WHERE status = '{status}' \
                   AND completed_at >= $1 + k * $2 \
                   AND completed_at < CASE WHEN k + 1 = $3 THEN $4 ELSE $1 + (k + 1) * $2 END)"
            )
        };
        let sql = format!(
            "WITH RECURSIVE s(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM s WHERE k + 1 < $3) \
             SELECT CAST(k AS BIGINT), {}, {}, {} FROM s ORDER BY k",
            count("completed"),
            count("failed"),
            count("cancelled"),
        );
        let slices = i64::from(query.buckets.max(1));
        match self.backend() {
            Backend::Sqlite(b) => Ok(sqlx::query_as(&sql)
                .bind(query.since)
                .bind(query.bucket_ms())
                .bind(slices)
                .bind(query.until)
                .fetch_all(&b.readers)
                .await?),
            // PostgreSQL aggregates the window's range in one pass by hash,
            // where sixty small scans each fetch their rows again.
            Backend::Postgres(b) => {
                let grouped: Vec<(i64, String, i64)> = on_postgres!(&b.pool, |conn| {
                    sqlx::query_as(
                        "SELECT LEAST((completed_at - $1) / $2, $3 - 1), status, COUNT(*) \
                         FROM tasks WHERE completed_at >= $1 AND completed_at < $4 \
                         GROUP BY 1, 2",
                    )
                    .bind(query.since)
                    .bind(query.bucket_ms())
                    .bind(slices)
                    .bind(query.until)
                    .fetch_all(conn)
                    .await?
                })?;
                let mut rows: Vec<(i64, i64, i64, i64)> =
                    (0..slices).map(|k| (k, 0, 0, 0)).collect();
                for (k, status, n) in grouped {
                    let Some(row) = usize::try_from(k).ok().and_then(|k| rows.get_mut(k)) else {
                        continue;
                    };
                    match TaskStatus::parse(&status) {
                        Some(TaskStatus::Completed) => row.1 += n,
                        Some(TaskStatus::Failed) => row.2 += n,
                        Some(TaskStatus::Cancelled) => row.3 += n,
                        _ => {}
                    }
                }
                Ok(rows)
            }
        }
    }

    /// Per provider and outcome, the tasks finished in the window.
    async fn finished_per_provider(
        &self,
        query: &OverviewQuery,
    ) -> Result<Vec<(String, String, i64)>> {
        // SQLite, without statistics, would read the window's range of
        // `tasks_by_completion` and sort it; this index has the groups in
        // order.
        let hint = match self.backend() {
            Backend::Sqlite(_) => "INDEXED BY tasks_by_provider_completion",
            Backend::Postgres(_) => "",
        };
        let sql = format!(
            "SELECT provider, status, COUNT(*) FROM tasks {hint} \
             WHERE completed_at >= $1 AND completed_at < $2 GROUP BY provider, status"
        );
        Ok(on_reader!(self.backend(), |pool| {
            sqlx::query_as(&sql)
                .bind(query.since)
                .bind(query.until)
                .fetch_all(pool)
                .await?
        }))
    }

    /// The run time of the final attempt of the window's latest completed
    /// tasks, with their provider.
    async fn latency_samples(&self, query: &OverviewQuery) -> Result<Vec<(String, i64)>> {
        // SQLite, without statistics, would rather find the completed
        // tasks through `tasks_by_status` and sort them all (a second on a
        // large store); the completion index hands out the latest first.
        let hint = match self.backend() {
            Backend::Sqlite(_) => "INDEXED BY tasks_by_completion",
            Backend::Postgres(_) => "",
        };
        let sql = format!(
            "SELECT provider, completed_at - started_at FROM tasks {hint} \
             WHERE status = 'completed' AND completed_at >= $1 AND completed_at < $2 \
               AND started_at IS NOT NULL \
             ORDER BY completed_at DESC LIMIT $3"
        );
        Ok(on_reader!(self.backend(), |pool| {
            sqlx::query_as(&sql)
                .bind(query.since)
                .bind(query.until)
                .bind(LATENCY_SAMPLE)
                .fetch_all(pool)
                .await?
        }))
    }
}

fn buckets(query: &OverviewQuery, slices: &[(i64, i64, i64, i64)]) -> Vec<Bucket> {
    let width = query.bucket_ms();
    slices
        .iter()
        .map(|&(k, completed, failed, cancelled)| Bucket {
            start: query.since + k * width,
            completed,
            failed,
            cancelled,
        })
        .collect()
}

fn providers(totals: &[(String, String, i64)], samples: Vec<(String, i64)>) -> Vec<ProviderStats> {
    let mut stats: BTreeMap<String, ProviderStats> = BTreeMap::new();
    for (provider, status, n) in totals {
        let entry = stats
            .entry(provider.clone())
            .or_insert_with(|| ProviderStats {
                provider: provider.clone(),
                ..ProviderStats::default()
            });
        match TaskStatus::parse(status) {
            Some(TaskStatus::Completed) => entry.completed += n,
            Some(TaskStatus::Failed) => entry.failed += n,
            Some(TaskStatus::Cancelled) => entry.cancelled += n,
            _ => {}
        }
    }
    let mut durations: HashMap<String, Vec<i64>> = HashMap::new();
    for (provider, ms) in samples {
        durations.entry(provider).or_default().push(ms.max(0));
    }
    for (provider, mut ms) in durations {
        ms.sort_unstable();
        if let Some(entry) = stats.get_mut(&provider) {
            entry.p50_ms = percentile(&ms, 50);
            entry.p95_ms = percentile(&ms, 95);
        }
    }
    stats.into_values().collect()
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_are_nearest_rank() {
        let ms: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&ms, 50), Some(50));
        assert_eq!(percentile(&ms, 95), Some(95));
        assert_eq!(percentile(&[7], 95), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }
}
