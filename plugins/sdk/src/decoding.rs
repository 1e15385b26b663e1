//! A vendor's stream format (`Decoder`: what each frame means) and the
//! decoding of a body's pieces into the contract's events (`Decoding`):
//! the part of `stream::Stream::pull` that needs no network, so that
//! vendors' decoders are tested natively. Re-exported from `stream`.
//!
//! Promises: text, reasoning and refusal events are never empty, and two of
//! one kind are never adjacent in one batch; nothing after the `end` event
//! is produced; a body that ends before the vendor's end of stream is a
//! typed error, never a short answer.

use crate::bindings::exports::llmhost::provider::streaming::StreamEvent;
use crate::bindings::llmhost::provider::types::ProviderError;
use crate::framing::Framing;

/// A vendor's stream format: what each frame means.
pub trait Decoder: 'static {
    /// How the body is cut into frames (`framing::Sse`, `framing::Ndjson`).
    type Framing: Framing;

    /// The events one frame carries; an error for the vendor's error event
    /// or a frame that is not what the vendor documents.
    fn frame(
        &mut self,
        frame: <Self::Framing as Framing>::Frame,
    ) -> Result<Vec<StreamEvent>, ProviderError>;

    /// The body ended without a frame that ended the stream. Vendors whose
    /// streams simply stop (Gemini) end them here; by default it is too
    /// early.
    fn body_end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        Ok(Vec::new())
    }
}

/// Frames and decodes a body's pieces; the part of `Stream::pull` that needs no
/// network, so that vendors' decoders are tested natively.
pub struct Decoding<D: Decoder> {
    /// The vendor its errors name.
    pub(crate) vendor: &'static str,
    framing: D::Framing,
    decoder: D,
    done: bool,
}

impl<D: Decoder> Decoding<D> {
    /// Decodes with `decoder`; errors name `vendor`.
    pub fn new(vendor: &'static str, decoder: D) -> Self {
        Self {
            vendor,
            framing: D::Framing::default(),
            decoder,
            done: false,
        }
    }

    /// Whether the `end` event has been produced.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The events completed by the next piece of the body.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, ProviderError> {
        let mut events = Vec::new();
        for frame in self.framing.feed(bytes) {
            if self.done {
                break;
            }
            let decoded = self.decoder.frame(frame)?;
            self.push(&mut events, decoded);
        }
        Ok(events)
    }

    /// The body ended cleanly: the last events, or an error when the stream
    /// had not ended.
    pub fn finish(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        let mut events = Vec::new();
        for frame in self.framing.finish() {
            if !self.done {
                let decoded = self.decoder.frame(frame)?;
                self.push(&mut events, decoded);
            }
        }
        if !self.done {
            let decoded = self.decoder.body_end()?;
            self.push(&mut events, decoded);
        }
        if !self.done {
            return Err(ProviderError::UpstreamError(format!(
                "{}: the stream ended before the answer was complete",
                self.vendor
            )));
        }
        Ok(events)
    }

    fn push(&mut self, out: &mut Vec<StreamEvent>, events: Vec<StreamEvent>) {
        for event in events {
            if self.done {
                return;
            }
            if is_empty_text(&event) {
                continue;
            }
            match (out.last_mut(), event) {
                (Some(StreamEvent::Text(before)), StreamEvent::Text(more))
                | (Some(StreamEvent::Reasoning(before)), StreamEvent::Reasoning(more))
                | (Some(StreamEvent::Refusal(before)), StreamEvent::Refusal(more)) => {
                    before.push_str(&more)
                }
                (_, event) => {
                    self.done = matches!(event, StreamEvent::End(_));
                    out.push(event);
                }
            }
        }
    }
}

/// Whether `event` is text, reasoning or refusal with nothing in it.
pub(crate) fn is_empty_text(event: &StreamEvent) -> bool {
    matches!(event, StreamEvent::Text(t) | StreamEvent::Reasoning(t) | StreamEvent::Refusal(t) if t.is_empty())
}
