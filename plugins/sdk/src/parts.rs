//! A message's content as vendors need it: its text, its media as a URL or
//! base64, and the tool call a tool result answers.
//!
//! Promises: nothing here drops a part; a vendor that cannot send a part
//! gets it back (`only_text`) and refuses it by name.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::bindings::llmhost::provider::types::{
    ContentPart, MediaPart, MediaSource, Message, ProviderError, Role,
};

/// The text of `parts`, in order, joined without separators (text parts of
/// one message are one text).
pub fn text(parts: &[ContentPart]) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            ContentPart::Text(text) => Some(text.as_str()),
            ContentPart::Media(_) => None,
        })
        .collect()
}

/// The text of `parts`, or the refusal of a media part for `vendor` where
/// it cannot go (e.g. a system message). The host only sends media where
/// the contract allows it; this guards a vendor's narrower places.
pub fn only_text(
    vendor: &str,
    place: &str,
    parts: &[ContentPart],
) -> Result<String, ProviderError> {
    match parts.iter().find_map(|p| match p {
        ContentPart::Media(m) => Some(m),
        ContentPart::Text(_) => None,
    }) {
        Some(media) => Err(ProviderError::Unsupported(format!(
            "{vendor}: {} content in {place}",
            media.media_type
        ))),
        None => Ok(text(parts)),
    }
}

/// Bytes as standard base64, as vendors take inline media.
pub fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The media as a URL: its own (`url`), or a `data:` URL of its bytes.
pub fn url(media: &MediaPart) -> String {
    match &media.source {
        MediaSource::Url(url) => url.clone(),
        MediaSource::Bytes(bytes) => {
            format!("data:{};base64,{}", media.media_type, base64(bytes))
        }
    }
}

/// The name of the tool call `id`, as the latest assistant message before
/// `before` that made it says: vendors that identify results by the tool's
/// name (Gemini, Ollama) need it, and the contract's results carry the id.
pub fn tool_name<'a>(
    vendor: &str,
    messages: &'a [Message],
    before: usize,
    id: &str,
) -> Result<&'a str, ProviderError> {
    messages[..before]
        .iter()
        .rev()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| m.tool_calls.iter())
        .find(|call| call.id == id)
        .map(|call| call.name.as_str())
        .ok_or_else(|| {
            ProviderError::InvalidRequest(format!(
                "{vendor}: the tool result for {id:?} answers no earlier tool call"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::llmhost::provider::types::ToolCall;

    fn png(source: MediaSource) -> ContentPart {
        ContentPart::Media(MediaPart {
            media_type: "image/png".into(),
            source,
            detail: None,
            name: None,
        })
    }

    #[test]
    fn text_joins_text_parts_and_media_is_a_url_or_a_data_url() {
        let parts = [
            ContentPart::Text("a".into()),
            png(MediaSource::Bytes(vec![0, 1, 2])),
            ContentPart::Text("b".into()),
        ];
        assert_eq!(text(&parts), "ab");
        let ContentPart::Media(media) = &parts[1] else {
            unreachable!()
        };
        assert_eq!(url(media), "data:image/png;base64,AAEC");
        let err = only_text("v", "a system message", &parts).unwrap_err();
        assert!(matches!(&err, ProviderError::Unsupported(m) if m.contains("image/png")));
        let ContentPart::Media(linked) = png(MediaSource::Url("https://x/y.png".into())) else {
            unreachable!()
        };
        assert_eq!(url(&linked), "https://x/y.png");
    }

    #[test]
    fn a_tool_results_name_is_the_latest_call_with_its_id() {
        let call = |id: &str, name: &str| ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: "{}".into(),
        };
        let assistant = |calls| Message {
            role: Role::Assistant,
            content: vec![],
            tool_calls: calls,
            tool_call_id: None,
            name: None,
            provider_state: None,
        };
        let messages = [
            assistant(vec![call("c0", "old")]),
            assistant(vec![call("c0", "new"), call("c1", "other")]),
        ];
        assert_eq!(tool_name("v", &messages, 2, "c0").unwrap(), "new");
        assert_eq!(tool_name("v", &messages, 1, "c0").unwrap(), "old");
        assert!(matches!(
            tool_name("v", &messages, 2, "c9").unwrap_err(),
            ProviderError::InvalidRequest(m) if m.contains("c9")
        ));
    }
}
