//! How many tokens a tenant's request reserves in its key's minute when it
//! is admitted (`llmhost_store::admission`), before anyone knows what it
//! will use: an estimate of its input plus the most it may answer. The
//! store replaces the reservation with what the request really used when
//! it ends, so the estimate only decides how many requests may be in
//! flight at once under a tpm limit, never what is counted.
//!
//! The estimate: a token per 4 bytes of text (messages, tool calls, tool
//! definitions and schemas as JSON), 4 per message for its role and
//! framing, 1,000 per image; plus `max_tokens`, or, when the request sets
//! none, the configured default (`reserve_output_tokens`).

use llmhost_store::task::{Content, Part, TaskInput};

/// English text runs at about 4 bytes a token in the common tokenizers.
const BYTES_PER_TOKEN: u64 = 4;
/// A message's role and framing.
const PER_MESSAGE: u64 = 4;
/// An image costs in the hundreds of tokens at most detail levels; the
/// bytes of its data say nothing about it.
const PER_IMAGE: u64 = 1_000;

/// The tokens a chat request or task reserves.
pub(crate) fn chat(input: &TaskInput, default_output: u32) -> u64 {
    input_tokens(input) + u64::from(input.params.max_tokens.unwrap_or(default_output))
}

/// The tokens an embeddings request reserves: its inputs' text.
pub(crate) fn embeddings(input: &serde_json::Value) -> u64 {
    text_tokens(input.to_string().len())
}

/// The estimate of a conversation's input tokens.
pub(crate) fn input_tokens(input: &TaskInput) -> u64 {
    let mut bytes = 0usize;
    let mut images = 0u64;
    for message in &input.messages {
        match &message.content {
            None => {}
            Some(Content::Text(text)) => bytes += text.len(),
            Some(Content::Parts(parts)) => {
                for part in parts {
                    match part {
                        Part::Text { text } => bytes += text.len(),
                        Part::ImageUrl { .. } => images += 1,
                    }
                }
            }
        }
        for call in &message.tool_calls {
            bytes += call.name.len() + call.arguments.len();
        }
    }
    if !input.tools.is_empty() {
        bytes += serde_json::to_string(&input.tools).map_or(0, |t| t.len());
    }
    if let Some(format) = &input.params.response_format {
        bytes += serde_json::to_string(format).map_or(0, |f| f.len());
    }
    text_tokens(bytes) + PER_MESSAGE * input.messages.len() as u64 + PER_IMAGE * images
}

fn text_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(BYTES_PER_TOKEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmhost_store::task::{ImageUrl, Message, Params, Role};

    fn message(content: Content) -> Message {
        Message {
            role: Role::User,
            content: Some(content),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
            provider_state: None,
        }
    }

    #[test]
    fn a_request_reserves_its_texts_quarter_and_its_answers_most() {
        let mut input = TaskInput {
            messages: vec![message(Content::Text("one two three".into()))],
            tools: Vec::new(),
            params: Params::default(),
        };
        // 13 bytes: 4 tokens, and 4 for the message.
        assert_eq!(input_tokens(&input), 8);
        assert_eq!(chat(&input, 1024), 8 + 1024);
        input.params.max_tokens = Some(3);
        assert_eq!(chat(&input, 1024), 8 + 3);
        input.messages.push(message(Content::Parts(vec![
            Part::Text {
                text: "abcd".into(),
            },
            Part::ImageUrl {
                image_url: ImageUrl {
                    url: format!("data:image/png;base64,{}", "A".repeat(100_000)),
                    detail: None,
                },
            },
        ])));
        assert_eq!(input_tokens(&input), 8 + 1 + 4 + 1_000);
    }

    #[test]
    fn embeddings_reserve_their_inputs_text() {
        assert_eq!(embeddings(&serde_json::json!("abcdef")), 2);
    }
}
