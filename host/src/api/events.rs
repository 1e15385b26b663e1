//! `GET /api/v1/tasks/{task_id}/events`: a task's life as Server-Sent
//! Events, read from the store: a `status` event at every change (with the
//! attempt) and a final `result` or `error` event, after which the stream
//! ends. A finished task replays its final status and outcome at once. The
//! stream only reads; a client that disconnects changes nothing.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::json;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiPath;
use crate::task::{Task, TaskStatus};

/// How often a live stream looks at the task again.
const POLL: Duration = Duration::from_millis(50);

/// Server-Sent Events: a `status` event at every change, then a final
/// `result` or `error` event.
#[utoipa::path(
    get,
    path = "/api/v1/tasks/{task_id}/events",
    tag = "tasks",
    params(("task_id" = String, Path, description = "The task's id")),
    responses(
        (status = 200, description = "An event stream (`status`, then `result` or `error`)", content_type = "text/event-stream", body = Object),
        (status = 400, description = "The path is not valid", body = ErrorBody),
        (status = 401, description = "Authentication is on and no valid token was sent", body = ErrorBody),
        (status = 404, description = "No task with this id", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn tasks_events(
    State(state): State<AppState>,
    ApiPath(task_id): ApiPath<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let first = state.store.get(&task_id).await?.ok_or_else(|| {
        ApiError::not_found("task_not_found", format!("no task with id {task_id:?}"))
    })?;
    let stream = futures::stream::unfold(Follow::Start(first), move |follow| {
        let store = state.store.clone();
        let task_id = task_id.clone();
        async move { follow.next(&store, &task_id).await }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Where the stream is: about to report a task, watching it, or done.
enum Follow {
    Start(Task),
    Watching { status: TaskStatus, attempts: u32 },
    Final(Task),
    Done,
}

impl Follow {
    async fn next(
        self,
        store: &crate::store::Store,
        id: &str,
    ) -> Option<(Result<Event, Infallible>, Follow)> {
        match self {
            Follow::Start(task) => Some((Ok(status_event(&task)), after_status(task))),
            Follow::Watching { status, attempts } => loop {
                tokio::time::sleep(POLL).await;
                let task = match store.get(id).await {
                    Ok(Some(task)) => task,
                    Ok(None) => return None,
                    Err(err) => {
                        tracing::warn!("task events: {err}");
                        continue;
                    }
                };
                if task.status != status || task.attempts != attempts {
                    return Some((Ok(status_event(&task)), after_status(task)));
                }
            },
            Follow::Final(task) => Some((Ok(final_event(&task)), Follow::Done)),
            Follow::Done => None,
        }
    }
}

fn after_status(task: Task) -> Follow {
    if task.status.is_terminal() {
        Follow::Final(task)
    } else {
        Follow::Watching {
            status: task.status,
            attempts: task.attempts,
        }
    }
}

fn status_event(task: &Task) -> Event {
    let data = json!({"task_id": task.task_id, "status": task.status, "attempts": task.attempts,
                      "error_code": task.error_code, "updated_at": task.updated_at});
    Event::default().event("status").data(data.to_string())
}

fn final_event(task: &Task) -> Event {
    match &task.result {
        Some(result) => Event::default().event("result").data(json!(result).to_string()),
        None => Event::default().event("error").data(
            json!({"status": task.status, "error_code": task.error_code, "error_message": task.error_message})
                .to_string(),
        ),
    }
}
