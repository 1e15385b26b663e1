//! The `echo` provider: deterministic answers for tests and demos.
//!
//! Models: `echo` answers with the last user message; `echo-slow:<ms>` waits
//! that long first; `echo-drip:<ms>` streams the answer word by word, `<ms>`
//! apart; `echo-error:<code>` fails with that typed error (codes as in the
//! task API, e.g. `rate_limited`). It never touches the network. Streamed,
//! every model yields the same text as `complete`, one word (with the
//! whitespace after it) per event.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

wit_bindgen::generate!({
    path: "../../wit/versions/0.2.0",
    world: "streaming-plugin",
});

use exports::llmhost::provider::provider::Guest;
use exports::llmhost::provider::streaming::{
    self, CompletionStream, GuestCompletionStream, StreamEnd, StreamEvent,
};
use llmhost::provider::host::{LogLevel, log};
use llmhost::provider::types::{
    Capabilities, Completion, ContentPart, Features, FinishReason, Message, ModelInfo,
    ProviderError, ProviderInfo, RateLimit, Request, Role, Usage,
};

struct Echo;

impl Guest for Echo {
    fn metadata() -> ProviderInfo {
        ProviderInfo {
            name: "echo".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: env!("CARGO_PKG_DESCRIPTION").into(),
            models: vec![
                model("echo", "answers with the last user message"),
                model("echo-slow:<ms>", "waits <ms> milliseconds, then echoes"),
                model(
                    "echo-drip:<ms>",
                    "streams word by word, <ms> milliseconds apart",
                ),
                model("echo-error:<code>", "fails with the typed error <code>"),
            ],
            // Text only: a request with tools, media or any optional
            // parameter is refused by the host before it reaches echo.
            capabilities: Capabilities {
                features: Features::empty(),
                input_media: Vec::new(),
            },
        }
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
        let mut events: VecDeque<StreamEvent> = words(&completion.text)
            .map(|word| StreamEvent::Text(word.to_owned()))
            .collect();
        events.push_back(StreamEvent::End(StreamEnd {
            finish_reason: completion.finish_reason,
            usage: completion.usage,
            model: completion.model,
            response_id: completion.response_id,
            provider_state: None,
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
        if model == "echo" {
            return Ok(Pace::Now);
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
                "echo serves echo, echo-slow:<ms>, echo-drip:<ms> and echo-error:<code>, not {model:?}"
            ))),
        }
    }
}

/// The answer to any model: the last user message.
fn answer(request: Request) -> Completion {
    let text = last_user_message(&request.messages).unwrap_or_default();
    let input: Vec<String> = request.messages.iter().map(text_of).collect();
    Completion {
        usage: Some(Usage {
            input_tokens: count_words(input.iter().map(String::as_str)),
            output_tokens: count_words([text.as_str()]),
            cached_input_tokens: None,
            cache_write_input_tokens: None,
            reasoning_tokens: None,
        }),
        text,
        reasoning: None,
        refusal: None,
        tool_calls: Vec::new(),
        finish_reason: FinishReason::Stop,
        model: request.model,
        response_id: None,
        provider_state: None,
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

fn model(id: &str, description: &str) -> ModelInfo {
    ModelInfo {
        id: id.into(),
        description: description.into(),
        capabilities: None,
        context_window: None,
    }
}

fn last_user_message(messages: &[Message]) -> Option<String> {
    messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(text_of)
}

/// A message's text parts, concatenated.
fn text_of(message: &Message) -> String {
    message
        .content
        .iter()
        .filter_map(|part| match part {
            ContentPart::Text(text) => Some(text.as_str()),
            ContentPart::Media(_) => None,
        })
        .collect()
}

/// Whitespace-separated words stand in for tokens: deterministic and cheap.
fn count_words<'a>(texts: impl IntoIterator<Item = &'a str>) -> u32 {
    let words: usize = texts
        .into_iter()
        .map(|t| t.split_whitespace().count())
        .sum();
    u32::try_from(words).unwrap_or(u32::MAX)
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
