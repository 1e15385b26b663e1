//! Secret values kept out of what a plugin returns. The host adds secrets
//! to requests; an upstream that reflects a request header (or a plugin
//! that asks it to) could hand one back, and the plugin could return it as
//! text, an error message, a model name, a log line, or put it in the host
//! name of a request the host refuses (and reports). Every configured
//! secret value (and its credential part after `Bearer `), as it is, URL-
//! encoded (`+` or `%20` for a space) and base64-encoded (standard and
//! URL-safe alphabets), is replaced by `[redacted]` before the host stores,
//! logs or answers it. Matching ignores ASCII case, so a host name's
//! lower-casing or lower-case percent escapes do not hide a secret.
//!
//! What remains (docs/plugins.md says it too): a secret transformed any
//! other way (split across streamed pieces, reversed, hashed, encoded at
//! another alignment inside a longer base64 text) is not recognised.

/// What a secret becomes wherever it is found.
pub(crate) const REDACTED: &str = "[redacted]";

/// Shorter values are not searched for: redacting them would mangle text.
const MIN_SECRET_BYTES: usize = 8;

/// The forms of every secret of one plugin, longest first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Redactor {
    needles: Vec<String>,
}

impl Redactor {
    pub(crate) fn new<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut needles = Vec::new();
        for value in values {
            let mut parts = vec![value];
            // `Bearer sk-…`: the credential alone is the secret too.
            if let Some(at) = value.iter().rposition(|b| *b == b' ') {
                parts.push(&value[at + 1..]);
            }
            for part in parts.into_iter().filter(|p| p.len() >= MIN_SECRET_BYTES) {
                if let Ok(text) = std::str::from_utf8(part) {
                    needles.push(text.to_owned());
                }
                let encoded: String = url::form_urlencoded::byte_serialize(part).collect();
                needles.push(encoded.replace('+', "%20"));
                needles.push(encoded);
                needles.push(base64(part, STANDARD));
                needles.push(base64(part, URL_SAFE));
            }
        }
        for needle in &mut needles {
            needle.make_ascii_lowercase();
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Self { needles }
    }

    /// Replaces every form of every secret in `text`, whatever its ASCII
    /// case.
    pub(crate) fn redact(&self, text: &mut String) {
        if self.needles.is_empty() {
            return;
        }
        // Lower-casing ASCII keeps every byte offset, so a match in the
        // folded copy is the same range of `text` (on char boundaries: a
        // needle is valid UTF-8).
        let folded = text.to_ascii_lowercase();
        let mut hits: Vec<(usize, usize)> = Vec::new();
        for needle in &self.needles {
            let mut from = 0;
            while let Some(at) = folded[from..].find(needle.as_str()) {
                hits.push((from + at, from + at + needle.len()));
                from += at + needle.len();
            }
        }
        if hits.is_empty() {
            return;
        }
        hits.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (start, end) in hits {
            if end <= copied {
                continue;
            }
            if start >= copied {
                out.push_str(&text[copied..start]);
                out.push_str(REDACTED);
            }
            // An overlapping match only widens the redacted range.
            copied = end;
        }
        out.push_str(&text[copied..]);
        *text = out;
    }

    /// `text` with every form of every secret replaced.
    pub(crate) fn redacted(&self, mut text: String) -> String {
        self.redact(&mut text);
        text
    }

    pub(crate) fn redact_option(&self, text: &mut Option<String>) {
        if let Some(text) = text {
            self.redact(text);
        }
    }

    /// Replaces every form of every secret in one streamed piece.
    pub(crate) fn redact_event(&self, event: &mut crate::StreamEvent) {
        use crate::StreamEvent;
        match event {
            StreamEvent::Text(text) | StreamEvent::Reasoning(text) | StreamEvent::Refusal(text) => {
                self.redact(text)
            }
            StreamEvent::ToolCall(delta) => {
                self.redact_option(&mut delta.id);
                self.redact_option(&mut delta.name);
                self.redact(&mut delta.arguments);
            }
            StreamEvent::End(_) => {}
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 without padding: a padded or unpadded copy both contain it.
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_encoding_without_padding() {
        assert_eq!(base64(b"Man", STANDARD), "TWFu");
        assert_eq!(base64(b"Ma", STANDARD), "TWE");
        assert_eq!(base64(b"M", STANDARD), "TQ");
        assert_eq!(base64(b"\xfb\xff", URL_SAFE), "-_8");
    }

    #[test]
    fn every_form_of_a_secret_is_redacted_and_short_values_are_left_alone() {
        let redactor = Redactor::new([b"Bearer sk-test-1234/5678".as_slice(), b"short".as_slice()]);
        for leaked in [
            "Bearer sk-test-1234/5678",
            "sk-test-1234/5678",
            "sk-test-1234%2F5678",
            "Bearer+sk-test-1234%2F5678",
            &base64(b"sk-test-1234/5678", STANDARD),
            &format!("{}==", base64(b"Bearer sk-test-1234/5678", URL_SAFE)),
        ] {
            let mut text = format!("upstream said: {leaked}!");
            redactor.redact(&mut text);
            assert!(
                text.starts_with("upstream said: [redacted]"),
                "{leaked}: {text}"
            );
            assert!(!text.contains("1234"), "{leaked}: {text}");
        }
        let mut text = "short and sweet".to_owned();
        redactor.redact(&mut text);
        assert_eq!(text, "short and sweet");
    }

    #[test]
    fn case_spaces_and_overlaps_do_not_hide_a_secret() {
        let redactor = Redactor::new([b"Key Ab/Cd-12345".as_slice()]);
        for (leaked, expected) in [
            // A host name is lower-cased; escapes come in either case.
            ("http://key ab/cd-12345.evil/", "http://[redacted].evil/"),
            ("Key%20Ab%2fCd-12345", "[redacted]"),
            ("Key+Ab%2FCd-12345", "[redacted]"),
            // Two forms overlapping, and one after another.
            ("Key Ab/Cd-12345Key Ab/Cd-12345", "[redacted][redacted]"),
            ("é Ab/Cd-12345 é", "é [redacted] é"),
        ] {
            let mut text = leaked.to_owned();
            redactor.redact(&mut text);
            assert_eq!(text, expected, "{leaked}");
        }
    }

    #[test]
    fn every_string_of_a_streamed_piece_is_redacted() {
        use crate::{StreamEvent, ToolCallDelta};
        let redactor = Redactor::new([b"sk-stream-secret".as_slice()]);
        let mut pieces = [
            StreamEvent::Text("t sk-stream-secret".into()),
            StreamEvent::Reasoning("r sk-stream-secret".into()),
            StreamEvent::Refusal("no sk-stream-secret".into()),
            StreamEvent::ToolCall(ToolCallDelta {
                index: 0,
                id: Some("sk-stream-secret".into()),
                name: Some("sk-stream-secret".into()),
                arguments: "{\"k\": \"sk-stream-secret\"}".into(),
            }),
        ];
        for piece in &mut pieces {
            redactor.redact_event(piece);
            assert!(!format!("{piece:?}").contains("sk-stream"), "{piece:?}");
            assert!(format!("{piece:?}").contains(REDACTED), "{piece:?}");
        }
    }
}
