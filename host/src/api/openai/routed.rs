//! `/v1/chat/completions` with a route's alias as `model`: the targets are
//! tried as the route says (`routing::plan`), each a direct call; the
//! answer names the target that gave it (`model` and `x-llmhost-target`).
//! A streamed request moves on only before its first text.

use std::time::Instant;

use axum::Json;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use llmhost_store::task::{TaskError, TaskInput};

use super::stream::{self, ChunkHeader};
use super::{AppState, OpenAiError, set_overhead, whole};
use crate::routing::{Answered, Attempted, Route, Target, run};
use crate::{capability, convert};

/// The response header naming the `<instance>/<model>` that answered.
pub(crate) const TARGET_HEADER: &str = "x-llmhost-target";

/// One routed request, whole or streamed.
pub(super) async fn complete(
    state: &AppState,
    route: &Route,
    input: TaskInput,
    mut header: ChunkHeader,
    stream: bool,
) -> Result<Response, OpenAiError> {
    let started = Instant::now();
    let deadline = state.config.call_deadline;
    let installed = state.runtime.names();
    let plugin_for = |target: &Target| {
        state
            .runtime
            .get(&target.instance)
            .ok_or_else(|| TaskError::provider_not_found(&target.instance, &installed))
    };
    // Each target is checked against its own model's capabilities; a
    // refusal is the caller's `invalid_request`, tried nowhere else.
    let admit = |target: &Target| {
        let plugin = plugin_for(target)?;
        let request = capability::admit(Some(&plugin), &target.instance, &target.model, &input)
            .map_err(TaskError::from)?;
        Ok::<_, TaskError>((plugin, request))
    };
    if stream {
        let (answer, attempts) = run(route, &state.health, |target| {
            let admitted = admit(target);
            let header = ChunkHeader {
                model: target.label(),
                ..header.clone()
            };
            async move {
                let (plugin, request) = admitted?;
                // `start` returns with the first piece: its time is the
                // time to first token.
                stream::start(plugin, request, deadline, header)
                    .await
                    .map(Answered::on_return)
            }
        })
        .await;
        log(route, &attempts);
        let (target, (events, provider_time)) = answer?;
        let mut response = events.into_response();
        set_overhead(
            &mut response,
            started.elapsed().saturating_sub(provider_time),
        );
        set_target(&mut response, &target.label());
        return Ok(response);
    }
    let meter = header.meter.clone();
    let (answer, attempts) = run(route, &state.health, |target| {
        let admitted = admit(target);
        let (meter, label) = (meter.clone(), target.label());
        async move {
            let (plugin, request) = admitted?;
            let called = Instant::now();
            let result = convert::outcome(plugin.complete(&request, deadline).await);
            // Each target called is a row of the ledger; the answer's is
            // written below, once it is the answer.
            if let (Err(error), Some(meter)) = (&result, &meter) {
                meter.record_failure(&label, error).await;
            }
            Ok(Answered::on_return((result?, called.elapsed())))
        }
    })
    .await;
    log(route, &attempts);
    let (target, (result, provider_time)) = answer?;
    header.model = target.label();
    if let Some(meter) = &header.meter {
        meter.record(&header.model, result.usage.as_ref()).await;
    }
    let body = whole(header.id, header.created, header.model, result);
    let mut response = Json(body).into_response();
    set_overhead(
        &mut response,
        started.elapsed().saturating_sub(provider_time),
    );
    set_target(&mut response, &target.label());
    Ok(response)
}

/// Names the `<instance>/<model>` that answered, for routed and direct
/// requests alike.
pub(super) fn set_target(response: &mut Response, label: &str) {
    // Instance names are plain ASCII; a model name that is not a valid
    // header value goes without the header rather than failing the answer.
    if let Ok(value) = HeaderValue::from_str(label) {
        response.headers_mut().insert(TARGET_HEADER, value);
    }
}

/// Every attempt but a lone success is worth a line: it says which targets
/// failed and why.
fn log(route: &Route, attempts: &[Attempted]) {
    if attempts.len() > 1 || attempts.iter().any(|a| a.outcome != "completed") {
        let tried: Vec<String> = attempts
            .iter()
            .map(|a| format!("{} {} in {:?}", a.target, a.outcome, a.duration))
            .collect();
        tracing::info!(route = %route.name, attempts = ?tried, "routed request");
    }
}
