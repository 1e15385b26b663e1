//! `GET /api/v1/tasks/{task_id}/events`: a task's life as Server-Sent
//! Events, read from the store: a `status` event at every change (with the
//! attempt), `delta` events with the text the running attempt streams,
//! `tool_call` events with the calls of a finished answer, and a final
//! `result` or `error` event, after which the stream ends.
//!
//! Promise: the `delta` texts of the final attempt, concatenated, equal the
//! result's text. Deltas are stored in batches, so the last piece of a
//! stream (or, for a fast task or the replay of a finished one, all of it)
//! is sent from the result just before the `result` event. A retry starts
//! its deltas over (each carries its `attempt`). Tool calls come whole, one
//! `tool_call` event each, in order, after the last `delta` and before the
//! `result` (which holds them too): only text is stored while an attempt
//! runs, and a client can run a tool only once its arguments are whole.
//! The stream only reads; a
//! client that disconnects changes nothing. When the server shuts down, the
//! stream ends with a `closing` event (the task goes on; reconnect to
//! another process to follow it).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiPath;
use super::tenant::Caller;
use llmhost_store::Store;
use llmhost_store::task::{Task, TaskStatus};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The most often a live stream looks at the task again. With the
/// embedded store it looks only after a write (`Store::change_signal`), so
/// a stream of a task that waits costs nothing; with PostgreSQL it polls.
const POLL: Duration = Duration::from_millis(50);

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(tasks_events))
}

/// Server-Sent Events: `status` at every change, `delta` while running,
/// `tool_call` for each call of the answer, then a final `result` or
/// `error` event.
#[utoipa::path(
    get,
    path = "/api/v1/tasks/{task_id}/events",
    tag = "tasks",
    params(("task_id" = String, Path, description = "The task's id")),
    responses(
        (status = 200, description = "An event stream (`status`, `delta`, `tool_call`, then `result` or `error`; `closing` when the server shuts down first)", content_type = "text/event-stream", body = Object),
        (status = 400, description = "The path is not valid", body = ErrorBody),
        (status = 401, description = "Authentication is on and no valid token was sent", body = ErrorBody),
        (status = 404, description = "No task with this id", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn tasks_events(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(task_id): ApiPath<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Another key's task is answered as if it did not exist.
    let first = state
        .store
        .get(&task_id)
        .await?
        .filter(|task| caller.owns(task.key_id.as_deref()))
        .ok_or_else(|| ApiError::task_not_found(&task_id))?;
    let mut watch = Watch::new(state.store.clone(), task_id, state.closing.clone());
    watch.observe(first).await;
    let stream = futures::stream::unfold(watch, |mut watch| async move {
        let event = watch.next_event().await?;
        Some((Ok(event), watch))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// One client's view of a task: what it was last told, and what to tell it
/// next.
struct Watch {
    store: Store,
    id: String,
    /// The server is shutting down: end with a `closing` event.
    closing: CancellationToken,
    status: Option<TaskStatus>,
    attempts: u32,
    /// The text of the current attempt already sent as deltas.
    sent: String,
    /// The last stored delta sent.
    last_seq: i64,
    queue: VecDeque<Event>,
    finished: bool,
}

impl Watch {
    fn new(store: Store, id: String, closing: CancellationToken) -> Self {
        Self {
            store,
            id,
            closing,
            status: None,
            attempts: 0,
            sent: String::new(),
            last_seq: 0,
            queue: VecDeque::new(),
            finished: false,
        }
    }

    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            if self.finished {
                return None;
            }
            // Registered before the read: a write after it wakes us.
            let store = self.store.clone();
            let mut changed = store.change_signal().map(|s| Box::pin(s.notified()));
            if let Some(changed) = &mut changed {
                changed.as_mut().enable();
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = self.closing.cancelled() => {
                    self.finished = true;
                    return Some(closing_event());
                }
            }
            match self.store.get(&self.id).await {
                Ok(Some(task)) => self.observe(task).await,
                Ok(None) => return None,
                Err(err) => tracing::warn!("task events: {err}"),
            }
            if let Some(changed) = changed
                && self.queue.is_empty()
                && !self.finished
            {
                tokio::select! {
                    _ = changed => {}
                    _ = self.closing.cancelled() => {
                        self.finished = true;
                        return Some(closing_event());
                    }
                }
            }
        }
    }

    /// Queues what changed since the last look.
    async fn observe(&mut self, task: Task) {
        if task.attempts != self.attempts {
            self.sent.clear();
            self.last_seq = 0;
        }
        if Some(task.status) != self.status || task.attempts != self.attempts {
            self.status = Some(task.status);
            self.attempts = task.attempts;
            self.queue.push_back(status_event(&task));
        }
        if task.status == TaskStatus::Running {
            self.queue_stored_deltas().await;
        }
        if task.status.is_terminal() {
            if let Some(result) = &task.result {
                let rest = match result.text.strip_prefix(self.sent.as_str()) {
                    Some(rest) => rest,
                    None => {
                        // The stored pieces are not how the result starts:
                        // a plugin whose stream disagrees with its answer.
                        // The result is the authority; send all of it.
                        tracing::warn!(
                            task_id = %self.id,
                            "streamed text does not start the result; resending the whole text"
                        );
                        &result.text
                    }
                };
                if !rest.is_empty() {
                    self.queue.push_back(delta_event(task.attempts, rest));
                }
                for (index, call) in result.tool_calls.iter().enumerate() {
                    let data = json!({"attempt": task.attempts, "index": index, "id": call.id,
                                      "name": call.name, "arguments": call.arguments});
                    self.queue
                        .push_back(Event::default().event("tool_call").data(data.to_string()));
                }
            }
            self.queue.push_back(final_event(&task));
            self.finished = true;
        }
    }

    async fn queue_stored_deltas(&mut self) {
        let deltas = match self
            .store
            .deltas(&self.id, self.attempts, self.last_seq)
            .await
        {
            Ok(deltas) => deltas,
            Err(err) => return tracing::warn!("task events: {err}"),
        };
        let Some(last) = deltas.last() else { return };
        self.last_seq = last.seq;
        let text: String = deltas.iter().map(|d| d.text.as_str()).collect();
        self.queue.push_back(delta_event(self.attempts, &text));
        self.sent.push_str(&text);
    }
}

fn status_event(task: &Task) -> Event {
    let data = json!({"task_id": task.task_id, "status": task.status, "attempts": task.attempts,
                      "error_code": task.error_code, "updated_at": task.updated_at,
                      "next_attempt_at": task.next_attempt_at});
    Event::default().event("status").data(data.to_string())
}

fn delta_event(attempt: u32, text: &str) -> Event {
    let data = json!({"attempt": attempt, "text": text});
    Event::default().event("delta").data(data.to_string())
}

fn closing_event() -> Event {
    let data =
        json!({"reason": "the server is shutting down; the task goes on: reconnect to follow it"});
    Event::default().event("closing").data(data.to_string())
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
