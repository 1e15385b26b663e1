//! Streamed answers (`streaming.completion-stream`): `Stream::pull` turns a
//! response body read as it arrives into the contract's events through a
//! vendor's `Decoder`; `Stream::whole` streams an answer that is whole
//! already, as one piece; `Stream::events` hands out events a provider
//! made itself (text in pieces, a tool call's arguments in fragments), one
//! at a time.
//!
//! Promises: text, reasoning and refusal events are never empty, and two of
//! one kind are never adjacent in one batch (tool-call deltas pass as they
//! come);
//! the `end` event is last, and `next` after it, or after an error, is an
//! error rather than a wait; a body that ends (cleanly or cut) before the
//! vendor's end of stream is a typed error, never a short answer.

use std::cell::RefCell;
use std::collections::VecDeque;

use crate::bindings::exports::llmhost::provider::streaming::{
    GuestCompletionStream, StreamEnd, StreamEvent,
};
use crate::bindings::llmhost::provider::types::{Completion, ProviderError};
use crate::errors;
use crate::http::BodyReader;
use crate::tools::{Assembler, whole_delta};

use crate::decoding::is_empty_text;
pub use crate::decoding::{Decoder, Decoding};

/// The one completion-stream type of every SDK provider: an upstream body
/// decoded as it arrives (`pull`), an answer that is already whole
/// (`whole`), or the provider's own events (`events`).
pub struct Stream(RefCell<Box<dyn Source>>);

/// Where a stream's events come from.
trait Source {
    fn next(&mut self) -> Result<Vec<StreamEvent>, ProviderError>;
}

impl Stream {
    /// A stream over an upstream's response body, decoded by `decoder`;
    /// errors name `vendor`.
    pub fn pull<D: Decoder>(vendor: &'static str, body: BodyReader, decoder: D) -> Self {
        Self(RefCell::new(Box::new(Pull {
            body: Some(body),
            decoding: Decoding::new(vendor, decoder),
        })))
    }

    /// A whole answer, streamed as one piece.
    pub fn whole(completion: Completion) -> Self {
        Self(RefCell::new(Box::new(Whole(Some(completion)))))
    }

    /// Events the provider made itself, handed out one per `next`, as an
    /// upstream's would arrive: for a provider with no upstream stream to
    /// pull that still streams in pieces (text a word at a time, a tool
    /// call's arguments in fragments after a first delta with its id and
    /// name). Empty text, reasoning and refusal events are left out: they
    /// carry nothing. `stream::events` turns a completion into events to
    /// cut up.
    ///
    /// An `upstream-error` naming the fault when `events` are not a
    /// stream, rather than a stream that fails halfway: the last event must
    /// be the only `end`, and the tool-call deltas must assemble into calls
    /// (`tools::Assembler`'s rules).
    pub fn events(events: Vec<StreamEvent>) -> Result<Self, ProviderError> {
        let events: VecDeque<StreamEvent> =
            events.into_iter().filter(|e| !is_empty_text(e)).collect();
        let ends = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::End(_)))
            .count();
        if ends == 0 {
            return Err(ProviderError::UpstreamError(
                "stream events: there is no end event, so the stream would never finish".into(),
            ));
        }
        if ends > 1 || !matches!(events.back(), Some(StreamEvent::End(_))) {
            return Err(ProviderError::UpstreamError(
                "stream events: events follow the end event, which must be the last".into(),
            ));
        }
        collect(events.iter().cloned())?;
        Ok(Self(RefCell::new(Box::new(Listed(events)))))
    }
}

impl GuestCompletionStream for Stream {
    fn next(&self) -> Result<Vec<StreamEvent>, ProviderError> {
        self.0.borrow_mut().next()
    }
}

/// A response body being decoded.
struct Pull<D: Decoder> {
    /// `None` once the body is finished with: ended, failed or not needed.
    body: Option<BodyReader>,
    decoding: Decoding<D>,
}

impl<D: Decoder> Source for Pull<D> {
    /// Reads until the body completes at least one event.
    fn next(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        loop {
            let vendor = self.decoding.vendor;
            let Some(body) = self.body.as_mut() else {
                return Err(after_end(vendor));
            };
            let events = match body.read() {
                Ok(Some(bytes)) => self.decoding.feed(&bytes),
                Ok(None) => self.decoding.finish(),
                // A connection cut mid-stream is `upstream_unavailable`, a
                // stall `timeout`, as for a whole response.
                Err(err) => Err(errors::transport_error(vendor, err)),
            };
            match events {
                // Nothing complete yet: read on.
                Ok(events) if events.is_empty() && !self.decoding.is_done() => {}
                outcome => {
                    // Finished with the body: release the connection now.
                    if outcome.is_err() || self.decoding.is_done() {
                        self.body = None;
                    }
                    return outcome;
                }
            }
        }
    }
}

/// An answer that is whole already: its events at once, then nothing.
struct Whole(Option<Completion>);

impl Source for Whole {
    fn next(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        let completion = self.0.take().ok_or_else(|| after_end("whole"))?;
        Ok(events(completion))
    }
}

/// Events a provider made itself: one per `next`, then nothing.
struct Listed(VecDeque<StreamEvent>);

impl Source for Listed {
    fn next(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        let event = self.0.pop_front().ok_or_else(|| after_end("events"))?;
        Ok(vec![event])
    }
}

/// A text, reasoning or refusal event with nothing in it: never sent.
/// A completion as stream events: its reasoning, refusal and text (those
/// not empty), each tool call as one delta, then the end.
pub fn events(completion: Completion) -> Vec<StreamEvent> {
    let mut events = Vec::with_capacity(4 + completion.tool_calls.len());
    let texts = [
        completion.reasoning.map(StreamEvent::Reasoning),
        completion.refusal.map(StreamEvent::Refusal),
        Some(StreamEvent::Text(completion.text)),
    ];
    events.extend(texts.into_iter().flatten().filter(|e| !is_empty_text(e)));
    for (index, call) in completion.tool_calls.into_iter().enumerate() {
        events.push(StreamEvent::ToolCall(whole_delta(index as u32, call)));
    }
    events.push(StreamEvent::End(StreamEnd {
        finish_reason: completion.finish_reason,
        usage: completion.usage,
        model: completion.model,
        response_id: completion.response_id,
        provider_state: completion.provider_state,
    }));
    events
}

/// The completion a whole stream amounts to, as the host assembles it: its
/// texts concatenated, its tool-call deltas assembled, with the facts of its
/// end. `Ok(None)` when it has no end; an error when its tool-call deltas do
/// not make calls.
pub fn collect(
    events: impl IntoIterator<Item = StreamEvent>,
) -> Result<Option<Completion>, ProviderError> {
    let (mut text, mut reasoning, mut refusal) = (String::new(), None::<String>, None::<String>);
    let mut calls = Assembler::default();
    for event in events {
        match event {
            StreamEvent::Text(piece) => text.push_str(&piece),
            StreamEvent::Reasoning(piece) => reasoning.get_or_insert_default().push_str(&piece),
            StreamEvent::Refusal(piece) => refusal.get_or_insert_default().push_str(&piece),
            StreamEvent::ToolCall(delta) => calls.push(delta)?,
            StreamEvent::End(end) => {
                return Ok(Some(Completion {
                    text,
                    reasoning,
                    refusal,
                    tool_calls: calls.finish(),
                    finish_reason: end.finish_reason,
                    usage: end.usage,
                    model: end.model,
                    response_id: end.response_id,
                    provider_state: end.provider_state,
                }));
            }
        }
    }
    Ok(None)
}

/// Decodes a body that arrives as `pieces`, as `Stream::pull` would, and collects
/// the answer: for testing decoders natively.
pub fn decode_pieces<D: Decoder>(
    vendor: &'static str,
    decoder: D,
    pieces: &[&[u8]],
) -> Result<Completion, ProviderError> {
    let mut decoding = Decoding::new(vendor, decoder);
    let mut events = Vec::new();
    for piece in pieces {
        events.extend(decoding.feed(piece)?);
        if decoding.is_done() {
            break;
        }
    }
    if !decoding.is_done() {
        events.extend(decoding.finish()?);
    }
    Ok(collect(events)?.expect("a finished decoding has ended"))
}

fn after_end(vendor: &str) -> ProviderError {
    ProviderError::UpstreamError(format!("{vendor}: the stream has already ended"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::exports::llmhost::provider::streaming::ToolCallDelta;
    use crate::bindings::llmhost::provider::types::{FinishReason, ToolCall};
    use crate::framing::Ndjson;

    /// Lines `text:…`, `end` and `fail`, for testing `Decoding` itself.
    struct Toy;

    impl Decoder for Toy {
        type Framing = Ndjson;

        fn frame(&mut self, line: String) -> Result<Vec<StreamEvent>, ProviderError> {
            Ok(match line.as_str() {
                "end" => vec![end()],
                "fail" => return Err(ProviderError::UpstreamError("toy: failed".into())),
                "two" => vec![StreamEvent::Text("a".into()), StreamEvent::Text("b".into())],
                text => vec![StreamEvent::Text(text.trim_start_matches("text:").into())],
            })
        }
    }

    fn end() -> StreamEvent {
        StreamEvent::End(StreamEnd {
            finish_reason: FinishReason::Stop,
            usage: Some(crate::shared::usage(Some(1), Some(2)).unwrap()),
            model: "toy-1".into(),
            response_id: None,
            provider_state: None,
        })
    }

    fn text(t: &str) -> StreamEvent {
        StreamEvent::Text(t.into())
    }

    #[test]
    fn texts_of_one_batch_are_joined_empty_ones_dropped_and_nothing_follows_the_end() {
        let mut decoding = Decoding::new("toy", Toy);
        assert_eq!(
            decoding.feed(b"text:\ntwo\ntext:c\n").unwrap(),
            [text("abc")]
        );
        assert_eq!(
            decoding.feed(b"text:d\nend\ntext:late\nfail\n").unwrap(),
            [text("d"), end()]
        );
        assert!(decoding.is_done());
        assert_eq!(decoding.finish().unwrap(), []);
    }

    #[test]
    fn a_body_that_ends_before_the_stream_is_an_upstream_error() {
        let mut decoding = Decoding::new("toy", Toy);
        assert_eq!(decoding.feed(b"text:a\ntext:b").unwrap(), [text("a")]);
        let err = decoding.finish().unwrap_err();
        assert!(
            matches!(err, ProviderError::UpstreamError(ref m) if m.contains("ended before")),
            "{err:?}"
        );
        assert!(decode_pieces("toy", Toy, &[b"text:a\n", b"fail\n"]).is_err());
    }

    #[test]
    fn a_whole_answer_streams_as_its_pieces_and_end_and_collects_back() {
        let answer = Completion {
            reasoning: Some("think".into()),
            tool_calls: vec![ToolCall {
                id: "c".into(),
                name: "f".into(),
                arguments: "{}".into(),
            }],
            finish_reason: FinishReason::ToolCalls,
            response_id: Some("r".into()),
            ..crate::answer::text("hello".into(), "m".into())
        };
        let events = events(answer.clone());
        assert_eq!(events.len(), 4);
        assert_eq!(collect(events).unwrap(), Some(answer.clone()));
        let empty = crate::answer::text(String::new(), "m".into());
        assert_eq!(super::events(empty).len(), 1, "no empty text event");
        assert_eq!(
            decode_pieces("toy", Toy, &[b"text:x", b"y\nen", b"d\n"])
                .unwrap()
                .text,
            "xy"
        );
    }

    fn piece(index: u32, head: Option<(&str, &str)>, arguments: &str) -> StreamEvent {
        StreamEvent::ToolCall(ToolCallDelta {
            index,
            id: head.map(|h| h.0.to_owned()),
            name: head.map(|h| h.1.to_owned()),
            arguments: arguments.into(),
        })
    }

    #[test]
    fn listed_events_come_one_per_next_without_empty_texts_and_next_after_the_end_fails() {
        let listed = vec![
            text("hello "),
            text(""),
            text("there"),
            piece(0, Some(("call_0", "f")), ""),
            piece(0, None, "{\"a\":"),
            piece(0, None, "1}"),
            end(),
        ];
        let stream = Stream::events(listed.clone()).unwrap();
        let mut batches = Vec::new();
        loop {
            let batch = stream.next().unwrap();
            assert_eq!(batch.len(), 1, "one event per next: {batch:?}");
            let ended = matches!(batch[0], StreamEvent::End(_));
            batches.extend(batch);
            if ended {
                break;
            }
        }
        let mut sent = listed;
        sent.remove(1);
        assert_eq!(batches, sent, "in order, the empty text left out");
        let answer = collect(batches).unwrap().unwrap();
        assert_eq!(answer.text, "hello there");
        assert_eq!(answer.tool_calls[0].arguments, "{\"a\":1}");
        let err = stream.next().unwrap_err();
        assert!(
            matches!(err, ProviderError::UpstreamError(ref m) if m.contains("already ended")),
            "{err:?}"
        );
    }

    #[test]
    fn listed_events_that_are_not_a_stream_are_refused_naming_the_fault() {
        let refused = |events: Vec<StreamEvent>, says: &str| {
            let Err(ProviderError::UpstreamError(message)) = Stream::events(events) else {
                panic!("expected an upstream error saying {says:?}");
            };
            assert!(message.contains(says), "{message:?} should say {says:?}");
        };
        refused(vec![text("a")], "no end event");
        refused(vec![], "no end event");
        refused(vec![end(), text("late")], "follow the end");
        refused(vec![text("a"), end(), end()], "follow the end");
        refused(
            vec![piece(0, None, "{}"), end()],
            "without an id and a name",
        );
        refused(
            vec![piece(1, Some(("c", "f")), "{}"), end()],
            "before the one ahead of it",
        );
        assert!(
            Stream::events(vec![end()]).is_ok(),
            "an end alone is a stream"
        );
    }
}
