//! `stream: true` on `/v1/chat/completions`: the provider's output as OpenAI
//! `chat.completion.chunk` events while it is generated — the role, each
//! piece of text, refusal or tool call (`delta.tool_calls`, OpenAI's shape),
//! reasoning as `delta.reasoning_content` (where DeepSeek, vLLM and LiteLLM
//! send it), the finish reason (and usage when asked), then `[DONE]`.
//!
//! The call starts before the response: a failure before any text is an
//! ordinary error response with the status from the error table; a failure
//! after text has gone out ends the stream with an OpenAI error event. A
//! client that disconnects drops the stream, which stops the call.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, Sse};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::usage;
use super::wire::{ChatChunk, ChunkChoice, Delta, FunctionPiece, ToolCallPiece};
use crate::api::error::{ApiError, Format};
use crate::api::usage::Meter;
use crate::convert;
use llmhost_runtime::{Plugin, Request, StreamEvent};
use llmhost_store::task::{TaskError, TaskResult};

/// What every chunk of one answer repeats.
#[derive(Clone)]
pub(crate) struct ChunkHeader {
    pub(crate) id: String,
    pub(crate) created: i64,
    pub(crate) model: String,
    pub(crate) include_usage: bool,
    /// Records the answer's usage when the call ends (`model` names the
    /// `<instance>/<model>` called).
    pub(crate) meter: Option<Arc<Meter>>,
}

/// The call's pieces as they come, and its outcome at the end.
struct Call {
    deltas: mpsc::Receiver<StreamEvent>,
    /// Aborted when the stream is dropped (the client went away).
    outcome: AbortOnDrop<Result<TaskResult, TaskError>>,
}

/// Starts the call and waits for its first text. Returns the stream and
/// how long the provider took before it.
pub(crate) async fn start(
    plugin: Arc<Plugin>,
    request: Request,
    deadline: Duration,
    header: ChunkHeader,
) -> Result<(Sse<impl Stream<Item = Result<Event, Infallible>>>, Duration), TaskError> {
    let started = std::time::Instant::now();
    let (sink, deltas) = llmhost_runtime::delta_channel();
    let outcome = AbortOnDrop(tokio::spawn(async move {
        convert::outcome(plugin.stream(&request, deadline, &sink).await)
    }));
    let mut call = Call { deltas, outcome };
    let first = call.deltas.recv().await;
    let waited = started.elapsed();
    let role = header.chunk(
        Delta {
            role: Some("assistant"),
            content: Some(""),
            ..Delta::default()
        },
        None,
    );
    let state = match first {
        Some(first) => State::Text {
            call,
            first: Some(first),
            header,
        },
        // The call ended without text: a failure is a plain error response.
        None => match call.outcome.join().await {
            Ok(result) => {
                header.meter(&result).await;
                State::Closing(header.closing(Ok(result)).into_iter())
            }
            Err(error) => {
                header.meter_failure(&error).await;
                return Err(error);
            }
        },
    };
    let rest = futures::stream::unfold(state, State::advance);
    let events = futures::stream::once(async { role }).chain(rest).map(Ok);
    Ok((Sse::new(events), waited))
}

/// Where the stream is.
enum State {
    /// Forwarding text; `first` was received before the response started.
    Text {
        call: Call,
        first: Option<StreamEvent>,
        header: ChunkHeader,
    },
    /// Sending the closing events.
    Closing(std::vec::IntoIter<Event>),
}

impl State {
    async fn advance(self) -> Option<(Event, State)> {
        match self {
            State::Text {
                mut call,
                mut first,
                header,
            } => {
                loop {
                    let delta = match first.take() {
                        Some(piece) => Some(piece),
                        None => call.deltas.recv().await,
                    };
                    let Some(piece) = delta else { break };
                    if let Some(event) = header.piece(piece) {
                        let next = State::Text {
                            call,
                            first: None,
                            header,
                        };
                        return Some((event, next));
                    }
                }
                let outcome = call.outcome.join().await;
                match &outcome {
                    Ok(result) => header.meter(result).await,
                    Err(error) => header.meter_failure(error).await,
                }
                let closing = header.closing(outcome);
                State::Closing(closing.into_iter()).advance_closing()
            }
            State::Closing(events) => State::Closing(events).advance_closing(),
        }
    }

    fn advance_closing(self) -> Option<(Event, State)> {
        let State::Closing(mut events) = self else {
            unreachable!("only called while closing")
        };
        let event = events.next()?;
        Some((event, State::Closing(events)))
    }
}

impl ChunkHeader {
    /// Records the answer's usage before its last events go out, so that
    /// the key's next request is admitted against it.
    async fn meter(&self, result: &TaskResult) {
        if let Some(meter) = &self.meter {
            meter.record(&self.model, result.usage.as_ref()).await;
        }
    }

    /// Records that the call failed, before its error goes out.
    async fn meter_failure(&self, error: &TaskError) {
        if let Some(meter) = &self.meter {
            meter.record_failure(&self.model, error).await;
        }
    }

    fn chunk(&self, delta: Delta<'_>, finish_reason: Option<&str>) -> Event {
        let chunk = ChatChunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
            }],
            usage: None,
        };
        Event::default().data(serde_json::to_string(&chunk).expect("chunks serialise"))
    }

    /// The chunk for one piece of output; none for the end, whose finish
    /// reason the closing chunk carries.
    fn piece(&self, piece: StreamEvent) -> Option<Event> {
        let delta = match &piece {
            StreamEvent::Text(text) => Delta {
                content: Some(text),
                ..Delta::default()
            },
            StreamEvent::Refusal(refusal) => Delta {
                refusal: Some(refusal),
                ..Delta::default()
            },
            StreamEvent::Reasoning(reasoning) => Delta {
                reasoning_content: Some(reasoning),
                ..Delta::default()
            },
            StreamEvent::ToolCall(call) => Delta {
                tool_calls: Some(vec![ToolCallPiece {
                    index: call.index,
                    id: call.id.clone(),
                    kind: call.id.as_ref().map(|_| "function"),
                    function: FunctionPiece {
                        name: call.name.clone(),
                        arguments: call.arguments.clone(),
                    },
                }]),
                ..Delta::default()
            },
            StreamEvent::End(_) => return None,
        };
        Some(self.chunk(delta, None))
    }

    /// The finish reason, usage if asked, and `[DONE]`; or the error.
    fn closing(&self, outcome: Result<TaskResult, TaskError>) -> Vec<Event> {
        let result = match outcome {
            Ok(result) => result,
            Err(error) => {
                // The response has started: the failure is the last event,
                // and there is no error response for the middleware to log.
                let error = ApiError::from(error);
                error.log();
                let body = error.body(Format::OpenAi);
                return vec![Event::default().data(body.to_string())];
            }
        };
        let last = Delta {
            provider_state: result.provider_state.as_deref(),
            ..Delta::default()
        };
        let mut events = vec![self.chunk(last, Some(&result.finish_reason))];
        if self.include_usage {
            let chunk = ChatChunk {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                choices: vec![],
                usage: usage(&result),
            };
            events.push(
                Event::default().data(serde_json::to_string(&chunk).expect("chunks serialise")),
            );
        }
        events.push(Event::default().data("[DONE]"));
        events
    }
}

/// A spawned call that is aborted when its handle is dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(&mut self) -> T {
        match (&mut self.0).await {
            Ok(value) => value,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(_) => unreachable!("only aborted on drop"),
        }
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
