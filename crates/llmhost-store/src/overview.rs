//! The overview of recent work: how many tasks are in each status, how many
//! finished (completed, failed, cancelled) in each slice of a recent window,
//! and per provider how many finished, how long their final attempts ran and
//! how long they took to their first token (p50/p95). Read-only, from the
//! rollups the database keeps as tasks finish (migration 0007:
//! `task_minutes`, `task_totals`, `task_latencies`), so that it costs the
//! same on a store of any size: slices are whole clock minutes.

use std::collections::{BTreeMap, HashMap};

use super::backend::on_reader;
use super::{Result, Store};
use crate::task::TaskStatus;

/// At most this many of the window's latest completed tasks give the
/// latency percentiles: enough for a steady p95, bounded on a busy store.
const LATENCY_SAMPLE: i64 = 5_000;
const MINUTE_MS: i64 = 60_000;

/// The window of an overview, in Unix ms, cut into `buckets` equal slices
/// of whole minutes (see `ending_at`).
#[derive(Clone, Copy, Debug)]
pub struct OverviewQuery {
    pub since: i64,
    pub until: i64,
    pub buckets: u32,
}

impl OverviewQuery {
    /// The window of at least `window_s` seconds that ends with the minute
    /// `now_ms` is in, cut into at most `max_buckets` slices of whole
    /// minutes (as many as the window needs at that width).
    pub fn ending_at(now_ms: i64, window_s: u32, max_buckets: u32) -> Self {
        let minutes = window_s.div_ceil(60).max(1);
        let width = minutes.div_ceil(max_buckets.max(1));
        let buckets = minutes.div_ceil(width);
        let until = now_ms - now_ms.rem_euclid(MINUTE_MS) + MINUTE_MS;
        Self {
            since: until - i64::from(buckets) * i64::from(width) * MINUTE_MS,
            until,
            buckets,
        }
    }

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
    /// Run time of the final attempt (claim to completion) of the latest
    /// `LATENCY_SAMPLE` completed in the window, in ms; `None` without any.
    pub p50_ms: Option<i64>,
    pub p95_ms: Option<i64>,
    /// Time to first token of the same (those that recorded one).
    pub first_token_p50_ms: Option<i64>,
    pub first_token_p95_ms: Option<i64>,
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

/// Finished tasks of one slice, instance and outcome.
type SliceCount = (i64, String, String, i64);
/// One completed task's instance, run time and time to first token.
type Latency = (String, i64, Option<i64>);

impl Store {
    pub async fn overview(&self, query: OverviewQuery) -> Result<Overview> {
        let counts = self.count_by_status().await?;
        let finished = self.finished_per_slice(&query).await?;
        let samples = self.latency_samples(&query).await?;
        Ok(Overview {
            counts,
            buckets: buckets(&query, &finished),
            providers: providers(&finished, samples),
        })
    }

    /// Per slice, instance and outcome, the tasks that finished: a range of
    /// `task_minutes`, a few rows per minute.
    async fn finished_per_slice(&self, query: &OverviewQuery) -> Result<Vec<SliceCount>> {
        Ok(on_reader!(self.backend(), |pool| {
            sqlx::query_as(
                "SELECT CAST((minute - $1) / $2 AS BIGINT), provider, status, \
                     CAST(SUM(tasks) AS BIGINT) \
                 FROM task_minutes WHERE minute >= $1 AND minute < $3 \
                 GROUP BY 1, provider, status",
            )
            .bind(query.since)
            .bind(query.bucket_ms())
            .bind(query.until)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The run time and time to first token of the window's latest
    /// completed tasks, with their instance.
    async fn latency_samples(&self, query: &OverviewQuery) -> Result<Vec<Latency>> {
        Ok(on_reader!(self.backend(), |pool| {
            sqlx::query_as(
                "SELECT provider, run_ms, first_token_ms FROM task_latencies \
                 WHERE completed_at >= $1 AND completed_at < $2 \
                 ORDER BY completed_at DESC LIMIT $3",
            )
            .bind(query.since)
            .bind(query.until)
            .bind(LATENCY_SAMPLE)
            .fetch_all(pool)
            .await?
        }))
    }
}

fn buckets(query: &OverviewQuery, finished: &[SliceCount]) -> Vec<Bucket> {
    let width = query.bucket_ms();
    let mut slices: Vec<Bucket> = (0..i64::from(query.buckets))
        .map(|k| Bucket {
            start: query.since + k * width,
            ..Bucket::default()
        })
        .collect();
    for (k, _, status, n) in finished {
        let Some(slice) = usize::try_from(*k).ok().and_then(|k| slices.get_mut(k)) else {
            continue;
        };
        match TaskStatus::parse(status) {
            Some(TaskStatus::Completed) => slice.completed += n,
            Some(TaskStatus::Failed) => slice.failed += n,
            Some(TaskStatus::Cancelled) => slice.cancelled += n,
            _ => {}
        }
    }
    slices
}

fn providers(finished: &[SliceCount], samples: Vec<Latency>) -> Vec<ProviderStats> {
    let mut stats: BTreeMap<String, ProviderStats> = BTreeMap::new();
    for (_, provider, status, n) in finished {
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
    let mut runs: HashMap<String, (Vec<i64>, Vec<i64>)> = HashMap::new();
    for (provider, run_ms, first_token_ms) in samples {
        let (run, first) = runs.entry(provider).or_default();
        run.push(run_ms.max(0));
        first.extend(first_token_ms.map(|ms| ms.max(0)));
    }
    for (provider, (mut run, mut first)) in runs {
        run.sort_unstable();
        first.sort_unstable();
        if let Some(entry) = stats.get_mut(&provider) {
            entry.p50_ms = percentile(&run, 50);
            entry.p95_ms = percentile(&run, 95);
            entry.first_token_p50_ms = percentile(&first, 50);
            entry.first_token_p95_ms = percentile(&first, 95);
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
    use super::{OverviewQuery, percentile};

    #[test]
    fn percentiles_are_nearest_rank() {
        let ms: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&ms, 50), Some(50));
        assert_eq!(percentile(&ms, 95), Some(95));
        assert_eq!(percentile(&[7], 95), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn a_window_is_whole_minutes_ending_with_the_current_one() {
        let now = 1_700_000_000_000 + 12_345; // 12.345 s into a minute
        let end = 1_700_000_040_000; // that minute's end
        let hour = OverviewQuery::ending_at(now, 3600, 60);
        assert_eq!(
            (hour.until, hour.buckets, hour.bucket_ms()),
            (end, 60, 60_000)
        );
        assert_eq!(hour.since, end - 3_600_000);
        // 15 minutes cannot be cut into 60 slices of whole minutes: 15.
        let quarter = OverviewQuery::ending_at(now, 900, 60);
        assert_eq!((quarter.buckets, quarter.bucket_ms()), (15, 60_000));
        // A day in at most 60 slices: 24-minute slices.
        let day = OverviewQuery::ending_at(now, 86_400, 60);
        assert_eq!((day.buckets, day.bucket_ms()), (60, 24 * 60_000));
        // 90 s is two minutes; a window is never shorter than asked.
        let short = OverviewQuery::ending_at(now, 90, 1);
        assert_eq!((short.buckets, short.bucket_ms()), (1, 120_000));
    }
}
