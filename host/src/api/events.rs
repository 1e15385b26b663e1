//! `GET /api/v1/tasks/{task_id}/events`: a task's life as Server-Sent
//! Events, read from the store: a `status` event at every change (with the
//! attempt), what the running attempt streams (`delta` for text,
//! `reasoning_delta`, `refusal_delta`, `tool_call_delta`), `tool_call`
//! events with the calls of a finished answer, and a final `result` or
//! `error` event, after which the stream ends.
//!
//! Promise: for the final attempt, the `delta` texts concatenated equal the
//! result's text, the `reasoning_delta` and `refusal_delta` texts its
//! reasoning and refusal, and the `tool_call_delta` pieces, joined by
//! `index`, its tool calls (unless a plugin's stream disagrees with its own
//! answer: the result is the authority). Pieces are stored in batches, so
//! the last of a stream (or, for a fast task or the replay of a finished
//! one, all of it) is sent from the result just before the `result` event.
//! A retry starts its pieces over (each carries its `attempt`). Tool calls
//! also come whole, one `tool_call` event each, in order, after the last
//! piece and before the `result` (which holds them too), for a client that
//! only runs tools. The stream only reads; a client that disconnects
//! changes nothing. When the server shuts down, the stream ends with a
//! `closing` event (the task goes on; reconnect to another process to
//! follow it).

use std::collections::{BTreeMap, VecDeque};
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
use llmhost_store::task::TaskResult;
use llmhost_store::task::{Task, TaskStatus};
use llmhost_store::{Delta, DeltaKind, Store};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The most often a live stream looks at the task again. With the
/// embedded store it looks only after a write (`Store::change_signal`), so
/// a stream of a task that waits costs nothing; with PostgreSQL it polls.
const POLL: Duration = Duration::from_millis(50);

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(tasks_events))
}

/// Server-Sent Events: `status` at every change, `delta`,
/// `reasoning_delta`, `refusal_delta` and `tool_call_delta` while running,
/// `tool_call` for each call of the answer, then a final `result` or
/// `error` event.
#[utoipa::path(
    get,
    path = "/api/v1/tasks/{task_id}/events",
    tag = "tasks",
    params(("task_id" = String, Path, description = "The task's id")),
    responses(
        (status = 200, description = "An event stream (`status`, `delta`, `reasoning_delta`, `refusal_delta`, `tool_call_delta`, `tool_call`, then `result` or `error`; `closing` when the server shuts down first)", content_type = "text/event-stream", body = Object),
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
    /// What of the current attempt was already sent as pieces.
    sent: Sent,
    /// The last stored delta sent.
    last_seq: i64,
    queue: VecDeque<Event>,
    finished: bool,
}

/// The current attempt's output sent so far, by kind.
#[derive(Default)]
struct Sent {
    text: String,
    reasoning: String,
    refusal: String,
    /// By call index: whether its id and name went out, and its arguments.
    calls: BTreeMap<u32, (bool, String)>,
}

impl Watch {
    fn new(store: Store, id: String, closing: CancellationToken) -> Self {
        Self {
            store,
            id,
            closing,
            status: None,
            attempts: 0,
            sent: Sent::default(),
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
            self.sent = Sent::default();
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
                self.queue_the_rest(task.attempts, result);
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
        // Rows of one kind in a row go out as one event (tool-call pieces
        // each as their own: they carry more than text).
        let mut run: Option<(DeltaKind, String)> = None;
        for delta in deltas {
            if let Some((kind, text)) = &mut run
                && *kind == delta.kind
                && delta.kind != DeltaKind::ToolCall
            {
                text.push_str(&delta.text);
                continue;
            }
            if let Some((kind, text)) = run.take() {
                self.queue_piece(kind, &text);
            }
            if delta.kind == DeltaKind::ToolCall {
                self.queue_call_piece(&delta);
            } else {
                run = Some((delta.kind, delta.text));
            }
        }
        if let Some((kind, text)) = run {
            self.queue_piece(kind, &text);
        }
    }

    /// Text, reasoning or refusal, sent and remembered.
    fn queue_piece(&mut self, kind: DeltaKind, text: &str) {
        let (event, sent) = match kind {
            DeltaKind::Text => ("delta", &mut self.sent.text),
            DeltaKind::Reasoning => ("reasoning_delta", &mut self.sent.reasoning),
            DeltaKind::Refusal => ("refusal_delta", &mut self.sent.refusal),
            DeltaKind::ToolCall => unreachable!("tool-call pieces go to queue_call_piece"),
        };
        sent.push_str(text);
        let data = json!({"attempt": self.attempts, "text": text});
        self.queue
            .push_back(Event::default().event(event).data(data.to_string()));
    }

    fn queue_call_piece(&mut self, delta: &Delta) {
        let index = delta
            .tool_index
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or_default();
        let (named, arguments) = self.sent.calls.entry(index).or_default();
        *named |= delta.tool_id.is_some() || delta.tool_name.is_some();
        arguments.push_str(&delta.text);
        let piece = CallPiece {
            index,
            id: delta.tool_id.as_deref(),
            name: delta.tool_name.as_deref(),
            arguments: &delta.text,
        };
        self.queue.push_back(piece.event(self.attempts));
    }

    /// What the result holds beyond the pieces sent, then each call whole.
    fn queue_the_rest(&mut self, attempt: u32, result: &TaskResult) {
        let kinds = [
            (DeltaKind::Reasoning, result.reasoning.as_deref()),
            (DeltaKind::Text, Some(result.text.as_str())),
            (DeltaKind::Refusal, result.refusal.as_deref()),
        ];
        for (kind, whole) in kinds {
            let sent = match kind {
                DeltaKind::Reasoning => &self.sent.reasoning,
                DeltaKind::Refusal => &self.sent.refusal,
                _ => &self.sent.text,
            };
            let rest = rest_of(&self.id, whole.unwrap_or_default(), sent).to_owned();
            if !rest.is_empty() {
                self.queue_piece(kind, &rest);
            }
        }
        for (index, call) in (0u32..).zip(&result.tool_calls) {
            let (named, sent) = self.sent.calls.get(&index).cloned().unwrap_or_default();
            let rest = rest_of(&self.id, &call.arguments, &sent);
            if named && rest.is_empty() {
                continue;
            }
            let piece = CallPiece {
                index,
                id: (!named).then_some(call.id.as_str()),
                name: (!named).then_some(call.name.as_str()),
                arguments: rest,
            };
            self.queue.push_back(piece.event(attempt));
        }
        for (index, call) in result.tool_calls.iter().enumerate() {
            let data = json!({"attempt": attempt, "index": index, "id": call.id,
                              "name": call.name, "arguments": call.arguments});
            self.queue
                .push_back(Event::default().event("tool_call").data(data.to_string()));
        }
    }
}

/// What of `whole` follows what was `sent`; all of it when the sent pieces
/// are not how it starts (a plugin whose stream disagrees with its answer:
/// the result is the authority).
fn rest_of<'a>(task_id: &str, whole: &'a str, sent: &str) -> &'a str {
    whole.strip_prefix(sent).unwrap_or_else(|| {
        tracing::warn!(
            task_id,
            "streamed output does not start the result; resending it whole"
        );
        whole
    })
}

/// A `tool_call_delta` event: OpenAI's piece of a streamed call (the id and
/// name on the call's first piece only).
struct CallPiece<'a> {
    index: u32,
    id: Option<&'a str>,
    name: Option<&'a str>,
    arguments: &'a str,
}

impl CallPiece<'_> {
    fn event(&self, attempt: u32) -> Event {
        let mut data =
            json!({"attempt": attempt, "index": self.index, "arguments": self.arguments});
        if let Some(id) = self.id {
            data["id"] = json!(id);
        }
        if let Some(name) = self.name {
            data["name"] = json!(name);
        }
        Event::default()
            .event("tool_call_delta")
            .data(data.to_string())
    }
}

fn status_event(task: &Task) -> Event {
    let data = json!({"task_id": task.task_id, "status": task.status, "attempts": task.attempts,
                      "error_code": task.error_code, "updated_at": task.updated_at,
                      "next_attempt_at": task.next_attempt_at});
    Event::default().event("status").data(data.to_string())
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
