//! Built against the frozen contract 0.1.1, streaming: a host speaking a
//! later contract must load it, call it whole and streamed in 0.1.1's
//! types, and refuse what 0.1.1 cannot carry before calling it.

use std::cell::RefCell;

wit_bindgen::generate!({
    path: "../../../wit/versions/0.1.1",
    world: "streaming-plugin",
});

use exports::llmhost::provider::provider::Guest;
use exports::llmhost::provider::streaming::{
    self, CompletionStream, GuestCompletionStream, StreamEnd, StreamEvent,
};
use llmhost::provider::types::{
    Completion, FinishReason, ModelInfo, ProviderError, ProviderInfo, Request, Usage,
};

struct Plugin;

impl Guest for Plugin {
    fn metadata() -> ProviderInfo {
        ProviderInfo {
            name: "contract-v011".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: env!("CARGO_PKG_DESCRIPTION").into(),
            models: vec![ModelInfo {
                id: "v011".into(),
                description: "answers `0.1.1 says: <last message> (temperature <t>)`".into(),
            }],
        }
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        Ok(answer(&request))
    }
}

/// The answer names the temperature it received, so that a test sees the
/// host's 64-bit value arrive as 0.1.1's 32-bit one.
fn answer(request: &Request) -> Completion {
    let last = request.messages.last().map(|m| m.content.clone());
    let temperature = request
        .params
        .temperature
        .map_or("none".into(), |t| t.to_string());
    Completion {
        text: format!(
            "0.1.1 says: {} (temperature {temperature})",
            last.unwrap_or_default()
        ),
        finish_reason: FinishReason::Stop,
        usage: Some(Usage {
            input_tokens: 1,
            output_tokens: 2,
        }),
        model: request.model.clone(),
    }
}

impl streaming::Guest for Plugin {
    type CompletionStream = Pieces;

    /// The whole answer in two pieces, then the end.
    fn start(request: Request) -> Result<CompletionStream, ProviderError> {
        let whole = answer(&request);
        let mut middle = whole.text.len() / 2;
        while !whole.text.is_char_boundary(middle) {
            middle -= 1;
        }
        let (first, second) = whole.text.split_at(middle);
        let events = vec![
            StreamEvent::Text(first.into()),
            StreamEvent::Text(second.into()),
            StreamEvent::End(StreamEnd {
                finish_reason: whole.finish_reason,
                usage: whole.usage,
                model: whole.model,
            }),
        ];
        Ok(CompletionStream::new(Pieces(RefCell::new(events))))
    }
}

pub struct Pieces(RefCell<Vec<StreamEvent>>);

impl GuestCompletionStream for Pieces {
    fn next(&self) -> Result<Vec<StreamEvent>, ProviderError> {
        Ok(std::mem::take(&mut *self.0.borrow_mut()))
    }
}

export!(Plugin);
