//! `GET /api/v1/overview`: what the dashboard's first page shows — tasks by
//! status, finished tasks per slice of a recent window (throughput and
//! failures), and per provider the finished tasks, the p50/p95 run time of
//! their final attempt and their time to first token. Slices are whole
//! clock minutes, the last one the minute in progress. `GET /api/v1/overview/events`: the same, as
//! Server-Sent Events, sent again when tasks move (at most once a second),
//! so that a page follows the store without polling it. Only reads.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, TimeZone, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiErrorCode, ErrorBody};
use super::extract::ApiQuery;
use llmhost_store::task::TaskStatus;
use llmhost_store::{OverviewQuery, Store, now_ms};

/// The widest window, in seconds (a week).
const MAX_WINDOW_S: u32 = 7 * 24 * 3600;
const MAX_BUCKETS: u32 = 120;
/// An overview stream sends at most this often, however busy the store.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// And at least this often, so that the window moves on an idle store (and,
/// with PostgreSQL, where other processes write unannounced, this is how
/// often it looks).
const MAX_INTERVAL: Duration = Duration::from_secs(5);

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview_get))
        .routes(routes!(overview_events))
}

/// Query string of the overview endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct OverviewParams {
    /// The window that ends with the current minute, in seconds: 60 to
    /// 604800 (default 3600), rounded up to whole minutes.
    window: Option<u32>,
    /// The most equal slices of whole minutes the window is cut into: 1 to
    /// 120 (default 60). A window of fewer minutes has one slice a minute.
    buckets: Option<u32>,
}

impl OverviewParams {
    /// The window's length and slices, checked.
    fn check(&self) -> Result<(u32, u32), ApiError> {
        let bad = |message: String| ApiError::new(ApiErrorCode::InvalidQuery, message);
        let window = self.window.unwrap_or(3600);
        if !(60..=MAX_WINDOW_S).contains(&window) {
            return Err(bad(format!(
                "window: must be between 60 and {MAX_WINDOW_S} seconds"
            )));
        }
        let buckets = self.buckets.unwrap_or(60);
        if !(1..=MAX_BUCKETS).contains(&buckets) {
            return Err(bad(format!("buckets: must be between 1 and {MAX_BUCKETS}")));
        }
        Ok((window, buckets))
    }
}

/// Tasks by status, and what finished in the window.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OverviewBody {
    /// The window's start (inclusive), a minute's start.
    since: DateTime<Utc>,
    /// The window's end (exclusive): the end of the current minute.
    until: DateTime<Utc>,
    /// When this was read.
    read_at: DateTime<Utc>,
    /// The width of one slice, in seconds (a multiple of 60).
    bucket_seconds: f64,
    /// Every task in the store by status, the window notwithstanding.
    counts: Counts,
    /// The window's slices, oldest first: tasks finished in each.
    buckets: Vec<BucketBody>,
    /// Providers with a task finished in the window, by name.
    providers: Vec<ProviderBody>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Counts {
    pending: i64,
    running: i64,
    completed: i64,
    failed: i64,
    cancelled: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BucketBody {
    start: DateTime<Utc>,
    completed: i64,
    failed: i64,
    cancelled: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ProviderBody {
    provider: String,
    completed: i64,
    failed: i64,
    cancelled: i64,
    /// `failed / (completed + failed)`; null without either.
    failure_rate: Option<f64>,
    /// Median run time of the final attempt (claim to result) of completed
    /// tasks, from the window's latest 5,000 completed tasks, in ms.
    p50_ms: Option<i64>,
    /// The 95th percentile of the same.
    p95_ms: Option<i64>,
    /// Median time to first token of the same tasks (from the call's start
    /// to the first piece it streamed, or to its answer when it streamed
    /// none), in ms; null when none recorded one.
    first_token_p50_ms: Option<i64>,
    /// The 95th percentile of the same.
    first_token_p95_ms: Option<i64>,
}

async fn read(store: &Store, window: u32, buckets: u32) -> Result<OverviewBody, ApiError> {
    let now = now_ms();
    let query = OverviewQuery::ending_at(now, window, buckets);
    let overview = store.overview(query).await?;
    let count = |s: TaskStatus| overview.counts.get(&s).copied().unwrap_or(0);
    let time = |ms: i64| Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    Ok(OverviewBody {
        since: time(query.since),
        until: time(query.until),
        read_at: time(now),
        bucket_seconds: query.bucket_ms() as f64 / 1000.0,
        counts: Counts {
            pending: count(TaskStatus::Pending),
            running: count(TaskStatus::Running),
            completed: count(TaskStatus::Completed),
            failed: count(TaskStatus::Failed),
            cancelled: count(TaskStatus::Cancelled),
        },
        buckets: overview
            .buckets
            .into_iter()
            .map(|b| BucketBody {
                start: time(b.start),
                completed: b.completed,
                failed: b.failed,
                cancelled: b.cancelled,
            })
            .collect(),
        providers: overview
            .providers
            .into_iter()
            .map(|p| {
                let ended = p.completed + p.failed;
                ProviderBody {
                    failure_rate: (ended > 0).then(|| p.failed as f64 / ended as f64),
                    provider: p.provider,
                    completed: p.completed,
                    failed: p.failed,
                    cancelled: p.cancelled,
                    p50_ms: p.p50_ms,
                    p95_ms: p.p95_ms,
                    first_token_p50_ms: p.first_token_p50_ms,
                    first_token_p95_ms: p.first_token_p95_ms,
                }
            })
            .collect(),
    })
}

/// Tasks by status, throughput and failures over the window, and latency
/// per provider.
#[utoipa::path(
    get,
    path = "/api/v1/overview",
    tag = "dashboard",
    params(OverviewParams),
    responses(
        (status = 200, description = "The overview, read now", body = OverviewBody),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
        (status = 401, description = "Authentication is on and no valid token was sent", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn overview_get(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<OverviewParams>,
) -> Result<Json<OverviewBody>, ApiError> {
    let (window, buckets) = params.check()?;
    Ok(Json(read(&state.store, window, buckets).await?))
}

/// Server-Sent Events: an `overview` event (the body of `GET
/// /api/v1/overview`) at once and again whenever tasks move, at most once
/// a second and at least every 5 seconds; `closing` when the server shuts
/// down.
#[utoipa::path(
    get,
    path = "/api/v1/overview/events",
    tag = "dashboard",
    params(OverviewParams),
    responses(
        (status = 200, description = "An event stream of `overview` events (`closing` when the server shuts down)", content_type = "text/event-stream", body = Object),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
        (status = 401, description = "Authentication is on and no valid token was sent", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn overview_events(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<OverviewParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let (window, buckets) = params.check()?;
    let first = read(&state.store, window, buckets).await?;
    let follow = Follow {
        state,
        window,
        buckets,
        first: Some(first),
        done: false,
    };
    let stream = futures::stream::unfold(follow, |mut follow| async move {
        let event = follow.next().await?;
        Some((Ok(event), follow))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// One client's overview stream.
struct Follow {
    state: AppState,
    window: u32,
    buckets: u32,
    first: Option<OverviewBody>,
    done: bool,
}

impl Follow {
    async fn next(&mut self) -> Option<Event> {
        if let Some(first) = self.first.take() {
            return Some(overview_event(&first));
        }
        if self.done {
            return None;
        }
        let store = self.state.store.clone();
        let closing = self.state.closing.clone();
        // Registered before the pause: a write during it is not missed.
        let mut changed = store.change_signal().map(|s| Box::pin(s.notified()));
        if let Some(changed) = &mut changed {
            changed.as_mut().enable();
        }
        let wait = async {
            tokio::time::sleep(MIN_INTERVAL).await;
            match changed {
                Some(changed) => {
                    let _ = tokio::time::timeout(MAX_INTERVAL - MIN_INTERVAL, changed).await;
                }
                None => tokio::time::sleep(MAX_INTERVAL - MIN_INTERVAL).await,
            }
        };
        tokio::select! {
            _ = wait => {}
            _ = closing.cancelled() => {
                self.done = true;
                let data = serde_json::json!({"reason": "the server is shutting down"});
                return Some(Event::default().event("closing").data(data.to_string()));
            }
        }
        loop {
            match read(&store, self.window, self.buckets).await {
                Ok(body) => return Some(overview_event(&body)),
                // An outage passes: say nothing and look again later.
                Err(err) => {
                    tracing::warn!("overview events: {err:?}");
                    tokio::select! {
                        _ = tokio::time::sleep(MAX_INTERVAL) => {}
                        _ = closing.cancelled() => { self.done = true; return None; }
                    }
                }
            }
        }
    }
}

fn overview_event(body: &OverviewBody) -> Event {
    let data = serde_json::to_string(body).expect("the overview serialises");
    Event::default().event("overview").data(data)
}
