//! Usage: what a `/v1` call records in the ledger (`Meter`: each target
//! called, answered or failed, priced by the price table; a key's call
//! written before the answer ends so that the next request of its key is
//! admitted against it, a keyless call's just after), and
//! `GET /api/v1/usage`, the
//! ledger summed by key, provider, model and day, as JSON or CSV. A tenant
//! key reads its own usage only.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiErrorCode, ErrorBody};
use super::extract::ApiQuery;
use super::tenant::{AdmittedCall, Caller, usd};
use crate::pricing::Prices;
use llmhost_store::Store;
use llmhost_store::task::{TaskError, Usage};
use llmhost_store::usage::{CallUsage, GroupBy, UsageGroup, UsageQuery};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(usage_get))
}

/// Records one `/v1` call's usage: who asked, through which route.
#[derive(Clone)]
pub(crate) struct Meter {
    store: Store,
    prices: Arc<Prices>,
    key_id: Option<String>,
    /// The admitted call, for a tenant.
    call_id: Option<String>,
    route: Option<String>,
    started: Instant,
}

impl Meter {
    pub(crate) fn new(
        state: &AppState,
        caller: &Caller,
        admitted: Option<&AdmittedCall>,
        route: Option<String>,
    ) -> Self {
        Self {
            store: state.store.clone(),
            prices: state.config.prices.clone(),
            key_id: caller.key_id().map(str::to_owned),
            call_id: admitted.map(|a| a.id.clone()),
            route,
            started: Instant::now(),
        }
    }

    /// Records that calling `label` (`<instance>/<model>`) failed: a row
    /// with the error's code, no tokens (the contract reports none for a
    /// failure) and no cost.
    pub(crate) async fn record_failure(&self, label: &str, error: &TaskError) {
        self.write(label, None, error.code.as_str()).await;
    }

    /// Records what `label`'s (`<instance>/<model>`) answer used. A store
    /// that cannot write now records nothing (logged: the answer is not
    /// withheld for it).
    pub(crate) async fn record(&self, label: &str, usage: Option<&Usage>) {
        self.write(label, usage, "ok").await;
    }

    async fn write(&self, label: &str, usage: Option<&Usage>, outcome: &str) {
        let (provider, model) = label.split_once('/').unwrap_or((label, ""));
        let tokens = |n: Option<u32>| i64::from(n.unwrap_or(0));
        let input = tokens(usage.map(|u| u.input_tokens));
        let cached = tokens(usage.and_then(|u| u.cached_input_tokens));
        let output = tokens(usage.map(|u| u.output_tokens));
        let call = CallUsage {
            key_id: self.key_id.clone(),
            call_id: self.call_id.clone(),
            outcome: outcome.to_owned(),
            provider: provider.to_owned(),
            model: model.to_owned(),
            route: self.route.clone(),
            input_tokens: input,
            output_tokens: output,
            cached_tokens: cached,
            reasoning_tokens: tokens(usage.and_then(|u| u.reasoning_tokens)),
            latency_ms: i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX),
            cost_nanousd: self
                .prices
                .cost_nanousd(provider, model, input as u64, cached as u64, output as u64)
                .unwrap_or(0),
        };
        // A key's call is recorded before its answer ends: the key's next
        // request is admitted against it. A keyless call limits nothing,
        // so its row is queued and written after the answer, together
        // with the others of the next few milliseconds (one commit for
        // many instead of one per call; docs/performance.md).
        let recorded = if call.key_id.is_none() && call.call_id.is_none() {
            self.store.record_call_later(call)
        } else {
            self.store.record_call(&call).await
        };
        if let Err(err) = recorded {
            tracing::error!(
                provider,
                model,
                "a /v1 call's usage was not recorded: {err}"
            );
        }
    }
}

/// Query string of `GET /api/v1/usage`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsageParams {
    /// Comma-separated: key, provider, model, day, outcome (default: key,
    /// provider, model, day).
    group_by: Option<String>,
    /// First day (UTC), `YYYY-MM-DD`, inclusive (default: the beginning).
    from: Option<String>,
    /// Last day (UTC), `YYYY-MM-DD`, inclusive (default: today).
    to: Option<String>,
    /// Only this key's usage (a tenant key always sees only its own).
    key_id: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// One group's sums.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct UsageRow {
    key_id: Option<String>,
    key_name: Option<String>,
    provider: Option<String>,
    model: Option<String>,
    /// `YYYY-MM-DD` (UTC).
    day: Option<String>,
    /// `ok`, or the error code the call ended with (`interrupted`: its
    /// process stopped first); only when grouped by outcome.
    outcome: Option<String>,
    /// Provider calls: each attempt of a task, each target of a `/v1`
    /// call.
    requests: i64,
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    reasoning_tokens: i64,
    cost_usd: f64,
    /// Summed over the group's calls.
    latency_ms: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct UsageReport {
    groups: Vec<UsageRow>,
    /// The sums over every group: exactly the ledger's.
    totals: UsageRow,
}

const CSV_HEADER: &str = "key_id,key_name,provider,model,day,requests,input_tokens,\
output_tokens,cached_tokens,reasoning_tokens,cost_usd,latency_ms,outcome";

/// The usage ledger summed per group. Every provider call is in it once
/// it ended: each attempt of a task (completed, failed, cancelled or
/// interrupted) and each target a `/v1` call called; `requests` counts
/// them.
#[utoipa::path(
    get,
    path = "/api/v1/usage",
    tag = "usage",
    params(UsageParams),
    responses(
        (status = 200, description = "The groups and their totals (JSON), or the groups as CSV with `format=csv`", body = UsageReport),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
        (status = 401, description = "No valid token was sent", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn usage_get(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<UsageParams>,
) -> Result<Response, ApiError> {
    let bad = |message: String| ApiError::new(ApiErrorCode::InvalidQuery, message);
    let group_by = match params.group_by.as_deref() {
        None => vec![
            GroupBy::Key,
            GroupBy::Provider,
            GroupBy::Model,
            GroupBy::Day,
        ],
        Some(list) => list
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| match s.trim() {
                "key" => Ok(GroupBy::Key),
                "provider" => Ok(GroupBy::Provider),
                "model" => Ok(GroupBy::Model),
                "day" => Ok(GroupBy::Day),
                "outcome" => Ok(GroupBy::Outcome),
                other => Err(bad(format!(
                    "group_by: unknown {other:?}; expected key, provider, model, day or outcome"
                ))),
            })
            .collect::<Result<_, _>>()?,
    };
    let day = |field: &str, text: &str| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(|d| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()))
            .map(|t| t.timestamp_millis())
            .map_err(|_| bad(format!("{field}: {text:?} is not a day (YYYY-MM-DD)")))
    };
    let from_ms = params
        .from
        .as_deref()
        .map(|t| day("from", t))
        .transpose()?
        .unwrap_or(0);
    let to_ms = match params.to.as_deref() {
        Some(t) => day("to", t)? + 86_400_000,
        None => i64::MAX,
    };
    let csv = match params.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(bad(format!("format: {other:?}; expected json or csv"))),
    };
    let key_id = match caller.key_id() {
        Some(own) => Some(own.to_owned()),
        None => params.key_id,
    };
    let query = UsageQuery {
        group_by,
        from_ms,
        to_ms,
        key_id,
    };
    let groups = state.store.usage(&query).await?;
    let names: HashMap<String, String> = match caller {
        Caller::Admin => state
            .store
            .keys()
            .await?
            .into_iter()
            .map(|k| (k.id, k.name))
            .collect(),
        Caller::Tenant(key) => HashMap::from([(key.id.clone(), key.name.clone())]),
    };
    let totals = total(&groups);
    let rows: Vec<UsageRow> = groups.into_iter().map(|g| row(g, &names)).collect();
    if csv {
        let mut out = String::from(CSV_HEADER);
        out.push('\n');
        for r in &rows {
            csv_line(&mut out, r);
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response());
    }
    Ok(Json(UsageReport {
        groups: rows,
        totals: row(totals, &names),
    })
    .into_response())
}

fn total(groups: &[UsageGroup]) -> UsageGroup {
    let mut sum = UsageGroup::default();
    for g in groups {
        sum.requests += g.requests;
        sum.input_tokens += g.input_tokens;
        sum.output_tokens += g.output_tokens;
        sum.cached_tokens += g.cached_tokens;
        sum.reasoning_tokens += g.reasoning_tokens;
        sum.latency_ms += g.latency_ms;
        sum.cost_nanousd += g.cost_nanousd;
    }
    sum
}

fn row(g: UsageGroup, names: &HashMap<String, String>) -> UsageRow {
    UsageRow {
        key_name: g.key_id.as_ref().and_then(|id| names.get(id).cloned()),
        key_id: g.key_id,
        provider: g.provider,
        model: g.model,
        day: g.day.and_then(|d| {
            Utc.timestamp_millis_opt(d * 86_400_000)
                .single()
                .map(|t| t.format("%Y-%m-%d").to_string())
        }),
        outcome: g.outcome,
        requests: g.requests,
        input_tokens: g.input_tokens,
        output_tokens: g.output_tokens,
        cached_tokens: g.cached_tokens,
        reasoning_tokens: g.reasoning_tokens,
        cost_usd: usd(g.cost_nanousd).parse().unwrap_or(0.0),
        latency_ms: g.latency_ms,
    }
}

/// One CSV record (RFC 4180: a field with a comma, quote or line break is
/// quoted, its quotes doubled).
fn csv_line(out: &mut String, r: &UsageRow) {
    let text = |v: &Option<String>| {
        let v = v.as_deref().unwrap_or("");
        if v.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_owned()
        }
    };
    let _ = writeln!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{},{},{}",
        text(&r.key_id),
        text(&r.key_name),
        text(&r.provider),
        text(&r.model),
        text(&r.day),
        r.requests,
        r.input_tokens,
        r.output_tokens,
        r.cached_tokens,
        r.reasoning_tokens,
        r.cost_usd,
        r.latency_ms,
        text(&r.outcome)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_field_with_a_comma_or_quote_is_quoted() {
        let mut out = String::new();
        let r = UsageRow {
            key_id: Some("key_1".into()),
            key_name: Some("team \"a\", east".into()),
            provider: None,
            model: Some("m".into()),
            day: Some("2026-01-02".into()),
            outcome: None,
            requests: 2,
            input_tokens: 3,
            output_tokens: 4,
            cached_tokens: 0,
            reasoning_tokens: 0,
            cost_usd: 0.01,
            latency_ms: 7,
        };
        csv_line(&mut out, &r);
        assert_eq!(
            out,
            "key_1,\"team \"\"a\"\", east\",,m,2026-01-02,2,3,4,0,0,0.01,7,\n"
        );
    }
}
