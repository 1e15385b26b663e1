//! `/api/v1/tasks`: submit, read, list and cancel tasks. A 2xx is only
//! returned after the store committed what it reports.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiErrorCode, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::reservation;
use super::tenant::{self, Caller};
use super::{ApiConfig, AppState};
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::Format;
use crate::capability;
use crate::routing::Routes;
use llmhost_store::admission::Admission;
use llmhost_store::task::{Message, Params, Role, Task, TaskInput, TaskStatus, Tool};
use llmhost_store::{Cancel, Idempotency, Inserted, ListQuery, NewTask};

const MAX_NAME_LEN: usize = 128;
const MAX_TIMEOUT_MS: u64 = 3_600_000;
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tasks_create, tasks_list))
        .routes(routes!(tasks_get))
        .routes(routes!(tasks_cancel))
}

/// The body of `POST /api/v1/tasks`: give either `messages` or `prompt`.
/// Without `provider`, `model` is a route's alias (`[routes.<alias>]`) and
/// the task runs over the route's targets.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTask {
    /// The provider instance; omitted for a task over a route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 128)]
    provider: Option<String>,
    /// The model, or without `provider`, a route's alias.
    #[schema(min_length = 1, max_length = 128)]
    model: String,
    #[serde(default)]
    #[schema(min_items = 1)]
    messages: Option<Vec<Message>>,
    #[serde(default)]
    prompt: Option<String>,
    /// Tools the model may call (a model that declares `tools`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool>,
    #[serde(default)]
    params: Option<Params>,
    /// Any JSON object; stored and returned as given.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 20)]
    max_attempts: Option<u32>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3_600_000)]
    timeout_ms: Option<u64>,
}

impl CreateTask {
    /// Checks what serde cannot and builds the task to store.
    fn validate(
        self,
        default_max_attempts: u32,
        idempotency_key: Option<String>,
        routes: &Routes,
    ) -> Result<NewTask, ApiError> {
        let idempotency = idempotency_key.map(|key| Idempotency {
            key,
            request_hash: self.fingerprint(),
        });
        if let Some(provider) = &self.provider {
            check_name("provider", provider)?;
        }
        check_name("model", &self.model)?;
        // Resolved once, here: a name that is no route is the caller's
        // mistake, never a guess at a provider.
        let route = match &self.provider {
            Some(_) => None,
            None if routes.get(&self.model).is_some() => Some(self.model.clone()),
            None => {
                return Err(ApiError::invalid(format!(
                    "missing field `provider`; without it, model must be a route's alias, \
                     and {:?} is none ({})",
                    self.model,
                    routes_list(routes)
                )));
            }
        };
        let messages = match (self.messages, self.prompt) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "give either messages or prompt, not both",
                ));
            }
            (None, None) => {
                return Err(ApiError::invalid("missing field `messages` (or `prompt`)"));
            }
            (None, Some(prompt)) => vec![Message::text(Role::User, prompt)],
            (Some(messages), None) if messages.is_empty() => {
                return Err(ApiError::invalid(
                    "messages: must hold at least one message",
                ));
            }
            (Some(messages), None) => messages,
        };
        if let Some(metadata) = &self.metadata
            && !metadata.is_object()
        {
            return Err(ApiError::invalid("metadata: must be a JSON object"));
        }
        let max_attempts = self.max_attempts.unwrap_or(default_max_attempts);
        if !(1..=ApiConfig::MAX_ATTEMPTS).contains(&max_attempts) {
            return Err(ApiError::invalid(format!(
                "max_attempts: must be between 1 and {}",
                ApiConfig::MAX_ATTEMPTS
            )));
        }
        if let Some(timeout) = self.timeout_ms
            && !(1..=MAX_TIMEOUT_MS).contains(&timeout)
        {
            return Err(ApiError::invalid(format!(
                "timeout_ms: must be between 1 and {MAX_TIMEOUT_MS}"
            )));
        }
        Ok(NewTask {
            id: new_task_id(),
            provider: self.provider.unwrap_or_else(|| self.model.clone()),
            model: self.model,
            route,
            input: TaskInput {
                messages,
                tools: self.tools,
                params: self.params.unwrap_or_default(),
            },
            metadata: self.metadata,
            max_attempts,
            timeout_ms: self.timeout_ms,
            idempotency,
        })
    }

    /// A stable hash of the request as parsed: the same request gives the
    /// same hash whatever its whitespace or key order.
    fn fingerprint(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("a parsed request serialises");
        let digest = Sha256::digest(&canonical);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 255;

/// The `Idempotency-Key` header, if sent: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            ApiErrorCode::InvalidIdempotencyKey,
            format!("Idempotency-Key: must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        )
    };
    let key = value.to_str().map_err(|_| bad())?;
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(key.to_owned()))
}

fn routes_list(routes: &Routes) -> String {
    let names = routes.names();
    if names.is_empty() {
        "no routes are configured".into()
    } else {
        format!("routes: {}", names.join(", "))
    }
}

/// Refused before it is stored: what the model cannot take never runs. A
/// task over a route is checked against each of its targets (which any
/// draw may put first); the context-window fallback is checked when used.
fn admit(state: &AppState, task: &NewTask) -> Result<(), ApiError> {
    let refused = |refusal| ApiError::refused(refusal, Format::Rest);
    let routes = state.routes.current();
    let Some(route) = task.route.as_deref().and_then(|alias| routes.get(alias)) else {
        let plugin = state.runtime.get(&task.provider);
        return capability::admit(plugin.as_deref(), &task.provider, &task.model, &task.input)
            .map(drop)
            .map_err(refused);
    };
    for target in &route.targets {
        let plugin = state.runtime.get(&target.instance);
        capability::admit(
            plugin.as_deref(),
            &target.instance,
            &target.model,
            &task.input,
        )
        .map_err(refused)?;
    }
    Ok(())
}

fn check_name(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::invalid(format!("{field}: must not be empty")));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(ApiError::invalid(format!(
            "{field}: longer than {MAX_NAME_LEN} bytes"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "{field}: must not contain control characters"
        )));
    }
    Ok(())
}

/// `201` with the new task; with an `Idempotency-Key` used before, `200`
/// with the earlier task for the same request, `409` for another request.
#[utoipa::path(
    post,
    path = "/api/v1/tasks",
    tag = "tasks",
    request_body = CreateTask,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters; the same key and request again returns the first task")),
    responses(
        (status = 201, description = "The task, stored as pending", body = Task),
        (status = 200, description = "The task first submitted with this Idempotency-Key", body = Task),
        (status = 400, description = "Malformed JSON or a bad Idempotency-Key", body = ErrorBody),
        (status = 401, description = "Authentication is on and no valid token was sent", body = ErrorBody),
        (status = 403, description = "An API key asked for a model outside its scope (`model_not_allowed`)", body = ErrorBody),
        (status = 409, description = "The Idempotency-Key was used for another request", body = ErrorBody),
        (status = 413, description = "The body is over the limit", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 422, description = "A field is missing, mistyped, unknown or out of range, or asks for what the model does not declare (tools, media, a parameter): `param` names it", body = ErrorBody),
        (status = 429, description = "An API key is over its rpm, tpm or max_parallel (`rate_limit_exceeded`, with `Retry-After` and `x-ratelimit-*`) or its budget (`budget_exceeded`)", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn tasks_create(
    State(state): State<AppState>,
    caller: Caller,
    request_headers: HeaderMap,
    ApiJson(body): ApiJson<CreateTask>,
) -> Result<impl IntoResponse, ApiError> {
    let key = idempotency_key(&request_headers)?;
    let routes = state.routes.current();
    let new_task = body.validate(state.config.default_max_attempts, key, &routes)?;
    // A key scoped to some models may use a route only if it may use every
    // target the route can reach.
    match new_task
        .route
        .as_deref()
        .and_then(|alias| routes.get(alias))
    {
        Some(route) => {
            for target in route.targets.iter().chain(&route.context_window_fallback) {
                caller.check_scope(&target.label(), "model")?;
            }
        }
        None => caller.check_scope(
            &format!("{}/{}", new_task.provider, new_task.model),
            "model",
        )?,
    }
    admit(&state, &new_task)?;
    let mut headers = HeaderMap::new();
    let inserted = match caller.key_id() {
        None => state.store.insert(&new_task).await?,
        Some(key_id) => match state
            .store
            .admit_task(
                key_id,
                &new_task,
                reservation::chat(&new_task.input, state.config.reserve_output_tokens),
            )
            .await?
        {
            Admission::Admitted(inserted, window) => {
                headers.extend(tenant::ratelimit_headers(&window, llmhost_store::now_ms()));
                inserted
            }
            Admission::Refused(limit, window) => return Err(tenant::refusal(limit, &window)),
        },
    };
    let (status, task) = match inserted {
        Inserted::Created(task) => (StatusCode::CREATED, task),
        Inserted::Existing(task) => (StatusCode::OK, task),
        Inserted::KeyConflict(task) => {
            return Err(ApiError::new(
                ApiErrorCode::IdempotencyKeyConflict,
                format!(
                    "Idempotency-Key {:?} was already used for task {} with a different request",
                    new_task.idempotency.map(|i| i.key).unwrap_or_default(),
                    task.task_id
                ),
            ));
        }
    };
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/tasks/{}", task.task_id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((status, headers, Json(task)))
}

/// The task as committed.
#[utoipa::path(
    get,
    path = "/api/v1/tasks/{task_id}",
    tag = "tasks",
    params(("task_id" = String, Path, description = "The task's id")),
    responses(
        (status = 200, description = "The task as committed", body = Task),
        (status = 400, description = "The path is not valid", body = ErrorBody),
        (status = 401, description = "Authentication is on and no valid token was sent", body = ErrorBody),
        (status = 404, description = "No task with this id", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn tasks_get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(task_id): ApiPath<String>,
) -> Result<Json<Task>, ApiError> {
    // Another key's task is answered as if it did not exist.
    state
        .store
        .get(&task_id)
        .await?
        .filter(|task| caller.owns(task.key_id.as_deref()))
        .map(Json)
        .ok_or_else(|| ApiError::task_not_found(&task_id))
}

/// Query string of `GET /api/v1/tasks`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Only tasks in this status: pending, running, completed, failed or cancelled.
    status: Option<String>,
    /// Only tasks of this provider (the name they were submitted to).
    provider: Option<String>,
    /// Only tasks over this route (submitted with its alias as `model`).
    route: Option<String>,
    /// Only tasks for this model.
    model: Option<String>,
    /// Only tasks that failed (or were retried) with this error code.
    error_code: Option<String>,
    /// Only tasks created at or after this time (RFC 3339).
    created_after: Option<String>,
    /// Only tasks created before this time (RFC 3339).
    created_before: Option<String>,
    /// Only the task with this id, or submitted with this `Idempotency-Key`.
    q: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// One page of tasks, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TaskPage {
    tasks: Vec<Task>,
    next_cursor: Option<String>,
}

/// Tasks newest first, filtered, one page at a time (keyset paging: a
/// cursor is the position after the last task of a page, so a page costs
/// the same however deep it is).
#[utoipa::path(
    get,
    path = "/api/v1/tasks",
    tag = "tasks",
    params(ListParams),
    responses(
        (status = 200, description = "One page of tasks", body = TaskPage),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
        (status = 401, description = "Authentication is on and no valid token was sent", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn tasks_list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<TaskPage>, ApiError> {
    let bad = |message: String| ApiError::new(ApiErrorCode::InvalidQuery, message);
    let status = params
        .status
        .map(|s| {
            TaskStatus::parse(&s).ok_or_else(|| {
                bad(format!("status: unknown status {s:?}; expected pending, running, completed, failed or cancelled"))
            })
        })
        .transpose()?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad(format!("limit: must be between 1 and {MAX_PAGE}")));
    }
    let cursor = params
        .cursor
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                bad(format!(
                    "cursor: {c:?} is not a cursor from a previous page"
                ))
            })
        })
        .transpose()?;
    let time = |field: &str, value: Option<String>| {
        value
            .map(|v| {
                chrono::DateTime::parse_from_rfc3339(&v)
                    .map(|t| t.timestamp_millis())
                    .map_err(|_| {
                        bad(format!(
                            "{field}: {v:?} is not an RFC 3339 time (2026-01-31T12:00:00Z)"
                        ))
                    })
            })
            .transpose()
    };
    let query = ListQuery {
        status,
        provider: params.provider,
        route: params.route,
        // A key lists its own tasks only.
        key_id: caller.key_id().map(str::to_owned),
        model: params.model,
        error_code: params.error_code,
        created_from: time("created_after", params.created_after)?,
        created_to: time("created_before", params.created_before)?,
        // An empty search box searches for nothing.
        search: params.q.filter(|q| !q.is_empty()),
        limit,
        cursor,
    };
    let page = state.store.list(&query).await?;
    Ok(Json(TaskPage {
        tasks: page.tasks,
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    }))
}

/// `POST /api/v1/tasks/{task_id}/cancel`: 200 with the task when it was
/// pending and is now cancelled; 202 with the task when it is running and
/// its cancel was requested (the worker stops it and records `cancelled`);
/// 409 with the current status when it had already finished.
#[utoipa::path(
    post,
    path = "/api/v1/tasks/{task_id}/cancel",
    tag = "tasks",
    params(("task_id" = String, Path, description = "The task's id")),
    responses(
        (status = 200, description = "The task was pending and is now cancelled", body = Task),
        (status = 202, description = "The task is running; its worker was asked to stop", body = Task),
        (status = 400, description = "The path is not valid", body = ErrorBody),
        (status = 401, description = "Authentication is on and no valid token was sent", body = ErrorBody),
        (status = 404, description = "No task with this id", body = ErrorBody),
        (status = 409, description = "The task had already finished", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn tasks_cancel(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(task_id): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    // A task's owner never changes: checked once, before the cancel.
    if caller.key_id().is_some() {
        let task = state.store.get(&task_id).await?;
        if !task.is_some_and(|t| caller.owns(t.key_id.as_deref())) {
            return Err(ApiError::task_not_found(&task_id));
        }
    }
    match state.store.cancel(&task_id).await? {
        Cancel::Cancelled(task) => Ok((StatusCode::OK, Json(task))),
        Cancel::Requested(task) => Ok((StatusCode::ACCEPTED, Json(task))),
        Cancel::AlreadyFinished(task) => Err(ApiError::new(
            ApiErrorCode::TaskFinished,
            format!(
                "task {task_id} is already {}; a finished task cannot be cancelled",
                task.status
            ),
        )),
        Cancel::NotFound => Err(ApiError::task_not_found(&task_id)),
    }
}

/// A new task's id: a UUIDv7 (ordered by its millisecond), its random bits
/// from the thread's generator rather than a `getrandom` system call per
/// submission (as `Uuid::now_v7` makes).
fn new_task_id() -> String {
    let millis = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &rand::random())
        .into_uuid()
        .to_string()
}
