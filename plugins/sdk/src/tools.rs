//! Tool calls in streams: numbering a vendor's calls as the contract's
//! `index` (`CallIndex`), a whole call as a delta (`whole_delta`), and
//! assembling deltas back into calls (`Assembler`).
//!
//! Promises: indexes are 0, 1, … in the order calls first appear, whatever
//! keys the vendor uses (Anthropic's content-block index, OpenAI's own
//! index, none at all); assembled arguments are the fragments concatenated,
//! never parsed or repaired.

use crate::bindings::exports::llmhost::provider::streaming::ToolCallDelta;
use crate::bindings::llmhost::provider::types::{ProviderError, ToolCall};

/// Numbers a vendor's tool calls 0, 1, … in the order they first appear.
#[derive(Debug, Default)]
pub struct CallIndex {
    keys: Vec<u64>,
}

impl CallIndex {
    /// The contract's index of the call the vendor calls `key`, and whether
    /// it is new (its first delta carries the id and name).
    pub fn of(&mut self, key: u64) -> (u32, bool) {
        match self.keys.iter().position(|k| *k == key) {
            Some(index) => (index as u32, false),
            None => {
                self.keys.push(key);
                (self.keys.len() as u32 - 1, true)
            }
        }
    }

    /// The index of a call the vendor sends whole and unnumbered (Gemini,
    /// Ollama): the next one.
    pub fn next_whole(&mut self) -> u32 {
        self.of(u64::MAX - self.keys.len() as u64).0
    }

    /// How many calls there were: whether the answer called tools.
    pub fn count(&self) -> usize {
        self.keys.len()
    }
}

/// An id for a call the vendor gave none (Gemini and Ollama may not):
/// unique within the answer, and kept by the client for its result.
pub fn generated_id(index: u32) -> String {
    format!("call_{index}")
}

/// A whole call as the one delta that carries it.
pub fn whole_delta(index: u32, call: ToolCall) -> ToolCallDelta {
    ToolCallDelta {
        index,
        id: Some(call.id),
        name: Some(call.name),
        arguments: call.arguments,
    }
}

/// Assembles tool-call deltas into calls, as the host does with a stream.
#[derive(Debug, Default)]
pub struct Assembler {
    calls: Vec<ToolCall>,
}

impl Assembler {
    /// Adds one delta. A call's first delta must carry its id and name, and
    /// calls must start in index order.
    pub fn push(&mut self, delta: ToolCallDelta) -> Result<(), ProviderError> {
        let index = delta.index as usize;
        if index == self.calls.len() {
            let (Some(id), Some(name)) = (delta.id, delta.name) else {
                return Err(ProviderError::UpstreamError(format!(
                    "tool call {index} began without an id and a name"
                )));
            };
            self.calls.push(ToolCall {
                id,
                name,
                arguments: delta.arguments,
            });
            return Ok(());
        }
        let call = self.calls.get_mut(index).ok_or_else(|| {
            ProviderError::UpstreamError(format!(
                "tool call {index} came before the one ahead of it"
            ))
        })?;
        call.arguments.push_str(&delta.arguments);
        Ok(())
    }

    /// The calls, in index order.
    pub fn finish(self) -> Vec<ToolCall> {
        self.calls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(index: u32, head: Option<(&str, &str)>, arguments: &str) -> ToolCallDelta {
        ToolCallDelta {
            index,
            id: head.map(|h| h.0.to_owned()),
            name: head.map(|h| h.1.to_owned()),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn fragments_of_interleaved_calls_assemble_in_index_order() {
        let mut calls = Assembler::default();
        for d in [
            delta(0, Some(("a", "f")), ""),
            delta(0, None, "{\"x\""),
            delta(1, Some(("b", "g")), "{"),
            delta(0, None, ": 1}"),
            delta(1, None, "}"),
        ] {
            calls.push(d).unwrap();
        }
        let calls = calls.finish();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].id.as_str(), calls[0].arguments.as_str()),
            ("a", "{\"x\": 1}")
        );
        assert_eq!(
            (calls[1].name.as_str(), calls[1].arguments.as_str()),
            ("g", "{}")
        );
    }

    #[test]
    fn a_call_without_its_head_or_out_of_order_is_an_upstream_error() {
        assert!(Assembler::default().push(delta(0, None, "{}")).is_err());
        assert!(
            Assembler::default()
                .push(delta(1, Some(("a", "f")), ""))
                .is_err()
        );
    }

    #[test]
    fn vendor_keys_are_numbered_in_order_of_first_appearance() {
        let mut index = CallIndex::default();
        assert_eq!(index.of(3), (0, true));
        assert_eq!(index.of(7), (1, true));
        assert_eq!(index.of(3), (0, false));
        assert_eq!(index.next_whole(), 2);
        assert_eq!(index.next_whole(), 3);
        assert_eq!(index.count(), 4);
    }
}
