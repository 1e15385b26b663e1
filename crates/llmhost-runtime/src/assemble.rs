//! The completion a stream amounts to: its text, reasoning and refusal
//! concatenated, its tool-call pieces joined by index (the first piece of a
//! call names it, later ones add argument fragments), and its end's facts.
//! `Plugin::stream` feeds it events and asks for the result once.

use super::contract::v0_2::{
    Completion, FinishReason, StreamEnd, StreamEvent, ToolCall, ToolCallDelta,
};

#[derive(Default)]
pub(crate) struct Assembly {
    pub(crate) text: String,
    reasoning: Option<String>,
    refusal: Option<String>,
    /// By index, in the order the indices first appeared (sorted at the end).
    calls: Vec<(u32, ToolCall)>,
}

impl Assembly {
    /// Adds one event; an `end` returns the finished completion.
    pub(crate) fn push(&mut self, event: StreamEvent, model: &str) -> Option<Completion> {
        match event {
            StreamEvent::Text(delta) => self.text.push_str(&delta),
            StreamEvent::Reasoning(delta) => append(&mut self.reasoning, &delta),
            StreamEvent::Refusal(delta) => append(&mut self.refusal, &delta),
            StreamEvent::ToolCall(delta) => self.tool_call(delta),
            StreamEvent::End(end) => return Some(self.finish(Some(end), model)),
        }
        None
    }

    /// Bytes of everything generated so far, for the output limit.
    pub(crate) fn size(&self) -> usize {
        self.text.len()
            + self.reasoning.as_ref().map_or(0, String::len)
            + self.refusal.as_ref().map_or(0, String::len)
            + self
                .calls
                .iter()
                .map(|(_, c)| c.id.len() + c.name.len() + c.arguments.len())
                .sum::<usize>()
    }

    fn tool_call(&mut self, delta: ToolCallDelta) {
        let at = match self.calls.iter().position(|(i, _)| *i == delta.index) {
            Some(at) => at,
            None => {
                let empty = ToolCall {
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                };
                self.calls.push((delta.index, empty));
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[at].1;
        if let Some(id) = delta.id {
            call.id = id;
        }
        if let Some(name) = delta.name {
            call.name.push_str(&name);
        }
        call.arguments.push_str(&delta.arguments);
    }

    /// The completion; a stream cut short (no end) finishes with `length`.
    pub(crate) fn finish(&mut self, end: Option<StreamEnd>, model: &str) -> Completion {
        let end = end.unwrap_or_else(|| StreamEnd {
            finish_reason: FinishReason::Length,
            usage: None,
            model: model.to_owned(),
            response_id: None,
            provider_state: None,
        });
        Completion {
            text: std::mem::take(&mut self.text),
            reasoning: self.reasoning.take(),
            refusal: self.refusal.take(),
            tool_calls: {
                let mut calls = std::mem::take(&mut self.calls);
                calls.sort_by_key(|(index, _)| *index);
                calls.into_iter().map(|(_, call)| call).collect()
            },
            finish_reason: end.finish_reason,
            usage: end.usage,
            model: end.model,
            response_id: end.response_id,
            provider_state: end.provider_state,
        }
    }
}

fn append(to: &mut Option<String>, delta: &str) {
    to.get_or_insert_with(String::new).push_str(delta);
}

/// A whole completion as the pieces a stream would have sent: its reasoning,
/// its text, each tool call in one piece (for a plugin that does not stream).
pub(crate) fn pieces(c: &Completion) -> Vec<StreamEvent> {
    let mut pieces = Vec::new();
    if let Some(reasoning) = c.reasoning.clone().filter(|r| !r.is_empty()) {
        pieces.push(StreamEvent::Reasoning(reasoning));
    }
    if let Some(refusal) = c.refusal.clone().filter(|r| !r.is_empty()) {
        pieces.push(StreamEvent::Refusal(refusal));
    }
    if !c.text.is_empty() {
        pieces.push(StreamEvent::Text(c.text.clone()));
    }
    for (index, call) in (0u32..).zip(&c.tool_calls) {
        pieces.push(StreamEvent::ToolCall(ToolCallDelta {
            index,
            id: Some(call.id.clone()),
            name: Some(call.name.clone()),
            arguments: call.arguments.clone(),
        }));
    }
    pieces
}

/// Bytes of everything a completion generated, for the output limit.
pub(crate) fn size(c: &Completion) -> usize {
    c.text.len()
        + c.reasoning.as_ref().map_or(0, String::len)
        + c.refusal.as_ref().map_or(0, String::len)
        + c.tool_calls
            .iter()
            .map(|t| t.id.len() + t.name.len() + t.arguments.len())
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> StreamEvent {
        StreamEvent::ToolCall(ToolCallDelta {
            index,
            id: id.map(Into::into),
            name: name.map(Into::into),
            arguments: args.into(),
        })
    }

    #[test]
    fn tool_call_pieces_join_by_index_and_calls_come_in_index_order() {
        let mut a = Assembly::default();
        for event in [
            StreamEvent::Reasoning("think".into()),
            piece(1, Some("b"), Some("second"), "{\"y\""),
            piece(0, Some("a"), Some("first"), ""),
            piece(0, None, None, "{\"x\":1}"),
            piece(1, None, None, ":2}"),
            StreamEvent::Text("done".into()),
        ] {
            assert!(a.push(event, "m").is_none());
        }
        let c = a.finish(None, "m");
        assert_eq!(c.text, "done");
        assert_eq!(c.reasoning.as_deref(), Some("think"));
        assert_eq!(c.finish_reason, FinishReason::Length);
        let calls: Vec<_> = c
            .tool_calls
            .iter()
            .map(|t| (t.id.as_str(), t.name.as_str(), t.arguments.as_str()))
            .collect();
        assert_eq!(
            calls,
            [("a", "first", "{\"x\":1}"), ("b", "second", "{\"y\":2}")]
        );
        assert_eq!(size(&c), 4 + 5 + 1 + 6 + 7 + 1 + 5 + 7);
    }
}
