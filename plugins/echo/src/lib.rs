//! The `echo` provider: deterministic answers for tests and demos.
//!
//! Models: `echo` answers with the last user message; `echo-slow:<ms>` waits
//! that long first; `echo-drip:<ms>` streams the answer word by word, `<ms>`
//! apart; `echo-error:<code>` fails with that typed error (codes as in the
//! task API, e.g. `rate_limited`). The feature models (`models.rs`) call
//! tools, answer tool results and JSON schemas, describe images, reason and
//! embed (`answer.rs`, `embed.rs`). It never touches the network. Streamed,
//! every model yields the same answer as `complete`: one word (with the
//! whitespace after it) per text event, each tool call's arguments in
//! several pieces.

mod answer;
mod embed;
mod models;
mod schema;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

wit_bindgen::generate!({
    path: "../../wit/versions/0.2.0",
    world: "embedding-plugin",
});

use answer::answer;
use exports::llmhost::provider::embeddings::{self, EmbeddingsRequest, EmbeddingsResponse};
use exports::llmhost::provider::provider::Guest;
use exports::llmhost::provider::streaming::{
    self, CompletionStream, GuestCompletionStream, StreamEnd, StreamEvent, ToolCallDelta,
};
use llmhost::provider::host::{LogLevel, log};
use llmhost::provider::types::{Completion, ProviderError, ProviderInfo, RateLimit, Request};

struct Echo;

impl Guest for Echo {
    fn metadata() -> ProviderInfo {
        models::metadata()
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        let pace = Pace::of(&request.model)?;
        if let Pace::Wait(delay) = pace {
            log(LogLevel::Debug, &format!("sleeping {delay:?}"));
            std::thread::sleep(delay);
        }
        // Dripping only paces a stream; whole, the answer is the same.
        Ok(answer(request))
    }
}

impl streaming::Guest for Echo {
    type CompletionStream = EchoStream;

    fn start(request: Request) -> Result<CompletionStream, ProviderError> {
        let pace = Pace::of(&request.model)?;
        if let Pace::Wait(delay) = pace {
            std::thread::sleep(delay);
        }
        let completion = answer(request);
        let mut events = pieces(&completion);
        events.push_back(StreamEvent::End(StreamEnd {
            finish_reason: completion.finish_reason,
            usage: completion.usage,
            model: completion.model,
            response_id: completion.response_id,
            provider_state: completion.provider_state,
        }));
        Ok(CompletionStream::new(EchoStream {
            events: RefCell::new(events),
            gap: match pace {
                Pace::Drip(gap) => Some(gap),
                _ => None,
            },
        }))
    }
}

/// A completion as stream events: reasoning and text word by word, then
/// each tool call with its arguments in pieces of at most 8 bytes.
fn pieces(completion: &Completion) -> VecDeque<StreamEvent> {
    let mut events = VecDeque::new();
    if let Some(reasoning) = &completion.reasoning {
        events.extend(words(reasoning).map(|word| StreamEvent::Reasoning(word.to_owned())));
    }
    events.extend(words(&completion.text).map(|word| StreamEvent::Text(word.to_owned())));
    for (index, call) in (0u32..).zip(&completion.tool_calls) {
        events.push_back(StreamEvent::ToolCall(ToolCallDelta {
            index,
            id: Some(call.id.clone()),
            name: Some(call.name.clone()),
            arguments: String::new(),
        }));
        let mut rest = call.arguments.as_str();
        while !rest.is_empty() {
            let mut cut = rest.len().min(8);
            while !rest.is_char_boundary(cut) {
                cut += 1;
            }
            let (piece, tail) = rest.split_at(cut);
            events.push_back(StreamEvent::ToolCall(ToolCallDelta {
                index,
                id: None,
                name: None,
                arguments: piece.to_owned(),
            }));
            rest = tail;
        }
    }
    events
}

impl embeddings::Guest for Echo {
    fn embed(request: EmbeddingsRequest) -> Result<EmbeddingsResponse, ProviderError> {
        embed::embed(request)
    }
}

/// A prepared answer, handed out word by word when dripping, else at once.
pub struct EchoStream {
    events: RefCell<VecDeque<StreamEvent>>,
    gap: Option<Duration>,
}

impl GuestCompletionStream for EchoStream {
    fn next(&self) -> Result<Vec<StreamEvent>, ProviderError> {
        let mut events = self.events.borrow_mut();
        match self.gap {
            Some(gap) => {
                std::thread::sleep(gap);
                Ok(events.pop_front().into_iter().collect())
            }
            None => Ok(events.drain(..).collect()),
        }
    }
}

/// How a model paces its answer.
enum Pace {
    Now,
    /// Waits this long before answering.
    Wait(Duration),
    /// Streams one word per this interval.
    Drip(Duration),
}

impl Pace {
    fn of(model: &str) -> Result<Self, ProviderError> {
        if let Some(code) = model.strip_prefix("echo-error:") {
            return Err(typed_error(code));
        }
        if matches!(
            model,
            "echo" | "echo-tools" | "echo-json" | "echo-vision" | "echo-think" | "echo-embed"
        ) {
            return Ok(Pace::Now);
        }
        if model == "echo-agent-drip" {
            return Ok(Pace::Drip(Duration::from_millis(150)));
        }
        let (kind, ms) = model.split_once(':').unwrap_or((model, ""));
        let millis = || {
            ms.parse::<u64>().map(Duration::from_millis).map_err(|_| {
                ProviderError::InvalidRequest(format!("{kind} needs milliseconds, got {ms:?}"))
            })
        };
        match kind {
            "echo-slow" => Ok(Pace::Wait(millis()?)),
            "echo-drip" => Ok(Pace::Drip(millis()?)),
            _ => Err(ProviderError::ModelNotFound(format!(
                "echo serves echo, echo-slow:<ms>, echo-drip:<ms>, echo-error:<code>, echo-tools, \
                 echo-json, echo-vision, echo-think, echo-agent-drip and echo-embed, not {model:?}"
            ))),
        }
    }
}

/// Splits `text` into words, each keeping the whitespace before the next
/// one, so that the pieces concatenate to `text` exactly.
fn words(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let word_end = rest
            .char_indices()
            .skip_while(|(_, c)| c.is_whitespace())
            .find(|(_, c)| c.is_whitespace())
            .map_or(rest.len(), |(i, _)| i);
        let next_word = rest[word_end..]
            .char_indices()
            .find(|(_, c)| !c.is_whitespace())
            .map_or(rest.len(), |(i, _)| word_end + i);
        let (word, tail) = rest.split_at(next_word);
        rest = tail;
        Some(word)
    })
}

fn typed_error(code: &str) -> ProviderError {
    let message = format!("echo was asked to fail with {code}");
    match code {
        "invalid_request" => ProviderError::InvalidRequest(message),
        "authentication" => ProviderError::Authentication(message),
        "permission_denied" => ProviderError::PermissionDenied(message),
        "model_not_found" => ProviderError::ModelNotFound(message),
        "rate_limited" => ProviderError::RateLimited(RateLimit {
            message,
            retry_after_ms: Some(100),
        }),
        "context_length_exceeded" => ProviderError::ContextLengthExceeded(message),
        "content_filtered" => ProviderError::ContentFiltered(message),
        "timeout" => ProviderError::Timeout(message),
        "upstream_unavailable" => ProviderError::UpstreamUnavailable(message),
        "upstream_error" => ProviderError::UpstreamError(message),
        "unsupported" => ProviderError::Unsupported(message),
        other => ProviderError::InvalidRequest(format!("echo-error: unknown error code {other:?}")),
    }
}

export!(Echo);
