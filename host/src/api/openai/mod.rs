//! The OpenAI-compatible endpoints: `POST /v1/chat/completions` (model
//! `<provider>/<model>`, `stream: true` as OpenAI SSE chunks ending with
//! `[DONE]`) and `GET /v1/models`. Synchronous: the provider is called
//! directly, nothing is stored. The request is read by `request.rs` and
//! checked by `capability` before the call; errors use OpenAI's format
//! (`param` names the field) and the one error table.

mod embeddings;
mod error;
mod request;
mod routed;
mod stream;
mod wire;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, Format};
use super::extract::OpenAiJson;
use super::reservation;
use super::tenant::{self, Caller};
use super::usage::Meter;
use crate::{capability, convert};
pub(crate) use error::OpenAiError;
use llmhost_store::task::{TaskError, TaskResult};
use request::ChatRequest;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wire::{
    AssistantMessage, ChatCompletion, ChatUsage, Choice, CompletionTokensDetails, Model, ModelList,
    PromptTokensDetails,
};

/// The response header carrying the host's own time on a request, in
/// microseconds: everything but the provider call.
pub const OVERHEAD_HEADER: &str = "x-llmhost-overhead-us";

pub(in crate::api) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(chat_completions))
        .routes(routes!(models_list))
        .routes(routes!(models_get))
        .routes(routes!(embeddings::embeddings_create))
}

/// OpenAI-compatible chat completion; errors are in OpenAI's format.
#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    tag = "openai",
    request_body(content = Object, description = "An OpenAI chat completion request; `model` is `<provider>/<model>`"),
    responses(
        (status = 200, description = "A `chat.completion`, or with `stream: true` an SSE stream of `chat.completion.chunk` events", body = Object),
        (status = 400, description = "Not a valid request (OpenAI error format)", body = Object),
        (status = 401, description = "Authentication is on and no valid token was sent", body = crate::api::error::ErrorBody),
        (status = 403, description = "An API key asked for a model outside its scope (OpenAI error format, code `model_not_allowed`)", body = Object),
        (status = 404, description = "Unknown provider or model (OpenAI error format)", body = Object),
        (status = 413, description = "The body is over the limit (OpenAI error format)", body = Object),
        (status = 415, description = "The body is not JSON (OpenAI error format)", body = Object),
        (status = 422, description = "Not a valid request (OpenAI error format)", body = Object),
        (status = 429, description = "An API key over its limits or budget (OpenAI error format, `Retry-After`, `x-ratelimit-*`), or the upstream's rate limit", body = Object),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn chat_completions(
    State(state): State<AppState>,
    caller: Caller,
    OpenAiJson(request): OpenAiJson<ChatRequest>,
) -> Result<Response, OpenAiError> {
    caller.check_scope(&request.model, "model")?;
    let default_output = state.config.reserve_output_tokens;
    // A request that does not convert is refused before any call; what it
    // reserved is given back when it is.
    let reserve = match caller.key_id() {
        None => 0,
        Some(_) => request
            .to_input()
            .map_or(u64::from(default_output), |input| {
                reservation::chat(&input, default_output)
            }),
    };
    let admitted = tenant::admit_call(&state, &caller, reserve).await?;
    let route = (!request.model.contains('/')
        && state.routes.current().get(&request.model).is_some())
    .then(|| request.model.clone());
    let meter = Meter::new(&state, &caller, admitted.as_ref(), route);
    let response = chat(state, request, meter).await?;
    Ok(tenant::answer(response, admitted))
}

/// A chat completion for a caller allowed to make it.
async fn chat(
    state: AppState,
    request: ChatRequest,
    meter: Meter,
) -> Result<Response, OpenAiError> {
    let started = Instant::now();
    let routes = state.routes.current();
    if !request.model.contains('/')
        && let Some(route) = routes.get(&request.model)
    {
        return chat_routed(&state, route, request, meter).await;
    }
    let (provider, model) = request
        .model
        .split_once('/')
        .filter(|(p, m)| !p.is_empty() && !m.is_empty())
        .ok_or_else(|| {
            OpenAiError::invalid(format!(
                "model: expected \"<provider>/<model>\" or a route ({}), got {:?}",
                routes_list(&state),
                request.model
            ))
        })?;
    if request.messages.is_empty() {
        return Err(OpenAiError::invalid(
            "messages: must hold at least one message",
        ));
    }
    let refused = |refusal| OpenAiError(ApiError::refused(refusal, Format::OpenAi));
    let input = request.to_input().map_err(refused)?;
    let Some(plugin) = state.runtime.get(provider) else {
        let error = TaskError::provider_not_found(provider, &state.runtime.names());
        return Err(error.into());
    };
    let contract_request = capability::admit(Some(&plugin), provider, model, &input)
        .map_err(|refusal| refused(request.own_name(refusal)))?;
    // Opaque and unique; from the thread's generator, not a getrandom
    // system call per request (as `Uuid::now_v7` makes).
    let id = format!("chatcmpl-{:032x}", rand::random::<u128>());
    let created = chrono::Utc::now().timestamp();
    if request.stream {
        let header = stream::ChunkHeader {
            id,
            created,
            model: request.model.clone(),
            include_usage: request
                .stream_options
                .as_ref()
                .is_some_and(|o| o.include_usage),
            meter: Some(Arc::new(meter)),
        };
        let (events, provider_time) =
            stream::start(plugin, contract_request, state.config.call_deadline, header).await?;
        let mut response = events.into_response();
        set_overhead(
            &mut response,
            started.elapsed().saturating_sub(provider_time),
        );
        routed::set_target(&mut response, &request.model);
        return Ok(response);
    }
    let call_started = Instant::now();
    let outcome = plugin
        .complete(&contract_request, state.config.call_deadline)
        .await;
    let provider_time = call_started.elapsed();
    let result = match convert::outcome(outcome) {
        Ok(result) => result,
        Err(error) => {
            meter.record_failure(&request.model, &error).await;
            return Err(error.into());
        }
    };
    meter.record(&request.model, result.usage.as_ref()).await;
    let mut response = Json(whole(id, created, request.model.clone(), result)).into_response();
    set_overhead(
        &mut response,
        started.elapsed().saturating_sub(provider_time),
    );
    routed::set_target(&mut response, &request.model);
    Ok(response)
}

/// A request whose `model` is a route's alias.
async fn chat_routed(
    state: &AppState,
    route: &crate::routing::Route,
    request: ChatRequest,
    meter: Meter,
) -> Result<Response, OpenAiError> {
    if request.messages.is_empty() {
        return Err(OpenAiError::invalid(
            "messages: must hold at least one message",
        ));
    }
    let input = request
        .to_input()
        .map_err(|refusal| OpenAiError(ApiError::refused(refusal, Format::OpenAi)))?;
    let header = stream::ChunkHeader {
        id: format!("chatcmpl-{:032x}", rand::random::<u128>()),
        created: chrono::Utc::now().timestamp(),
        model: request.model.clone(),
        include_usage: request
            .stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage),
        meter: Some(Arc::new(meter)),
    };
    routed::complete(state, route, input, header, request.stream).await
}

fn routes_list(state: &AppState) -> String {
    let names = state.routes.current().names();
    if names.is_empty() {
        "none configured".to_owned()
    } else {
        format!("routes: {}", names.join(", "))
    }
}

/// The host's own time on a request: for a stream, until it started.
fn set_overhead(response: &mut Response, overhead: Duration) {
    if let Ok(value) = HeaderValue::from_str(&overhead.as_micros().to_string()) {
        response.headers_mut().insert(OVERHEAD_HEADER, value);
    }
}

/// The answer's usage in OpenAI's shape; a detail appears only when the
/// provider reported it.
fn usage(result: &TaskResult) -> Option<ChatUsage> {
    result.usage.map(|u| ChatUsage {
        prompt_tokens: u.input_tokens,
        completion_tokens: u.output_tokens,
        total_tokens: u.input_tokens.saturating_add(u.output_tokens),
        prompt_tokens_details: (u.cached_input_tokens.is_some()
            || u.cache_write_input_tokens.is_some())
        .then_some(PromptTokensDetails {
            cached_tokens: u.cached_input_tokens,
            cache_write_tokens: u.cache_write_input_tokens,
        }),
        completion_tokens_details: u
            .reasoning_tokens
            .map(|reasoning_tokens| CompletionTokensDetails { reasoning_tokens }),
    })
}

fn whole(id: String, created: i64, model: String, result: TaskResult) -> ChatCompletion {
    ChatCompletion {
        id,
        object: "chat.completion",
        created,
        model,
        usage: usage(&result),
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content: (!result.text.is_empty() || result.tool_calls.is_empty())
                    .then_some(result.text),
                refusal: result.refusal,
                tool_calls: (!result.tool_calls.is_empty())
                    .then(|| result.tool_calls.into_iter().map(Into::into).collect()),
                reasoning_content: result.reasoning,
                provider_state: result.provider_state,
            },
            finish_reason: result.finish_reason,
        }],
    }
}

/// OpenAI-compatible model list: every provider model as `<provider>/<model>`.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "openai",
    responses(
        (status = 200, description = "The models", body = Object),
        (status = 401, description = "Authentication is on and no valid token was sent", body = crate::api::error::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn models_list(State(state): State<AppState>, caller: Caller) -> Json<ModelList> {
    // An API key sees the models in its scope.
    let data = state
        .runtime
        .providers()
        .into_iter()
        .flat_map(|provider| {
            provider.models.into_iter().map(move |m| Model {
                id: format!("{}/{}", provider.name, m.id),
                object: "model",
                created: 0,
                owned_by: provider.name.clone(),
            })
        })
        .filter(|model| caller.allows(&model.id))
        .collect();
    Json(ModelList {
        object: "list",
        data,
    })
}

/// One model of `GET /v1/models`, by its `<provider>/<model>` id; an
/// unknown one is a 404 in OpenAI's format.
#[utoipa::path(
    get,
    path = "/v1/models/{provider}/{model}",
    tag = "openai",
    params(
        ("provider" = String, Path, description = "The provider (instance) name"),
        ("model" = String, Path, description = "The model id"),
    ),
    responses(
        (status = 200, description = "The model", body = Object),
        (status = 401, description = "Authentication is on and no valid token was sent", body = crate::api::error::ErrorBody),
        (status = 404, description = "No such provider or model (OpenAI error format)", body = Object),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn models_get(
    State(state): State<AppState>,
    caller: Caller,
    Path((provider, model)): Path<(String, String)>,
) -> Result<Json<Model>, OpenAiError> {
    caller.check_scope(&format!("{provider}/{model}"), "model")?;
    let Some(found) = state
        .runtime
        .providers()
        .into_iter()
        .find(|p| p.name == provider)
    else {
        return Err(TaskError::provider_not_found(&provider, &state.runtime.names()).into());
    };
    if !found.models.iter().any(|m| m.id == model) {
        return Err(TaskError::new(
            llmhost_store::error_code::ErrorCode::ModelNotFound,
            format!("{provider} lists no model {model:?}"),
        )
        .into());
    }
    Ok(Json(Model {
        id: format!("{provider}/{model}"),
        object: "model",
        created: 0,
        owned_by: provider,
    }))
}
