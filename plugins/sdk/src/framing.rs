//! Cuts a response body that arrives in pieces into the vendors' frames:
//! lines (NDJSON, Ollama) and Server-Sent Events (OpenAI, Anthropic,
//! Gemini). Plain Rust without wasi imports, so it is tested natively. A
//! frame may be split across reads anywhere, even inside a UTF-8 character:
//! nothing is decoded before its line is whole.

/// How a streamed body is cut into frames.
pub trait Framing: Default + 'static {
    /// One unit of the format: a line, an event.
    type Frame;
    /// The frames completed by `bytes`, the next piece of the body.
    fn feed(&mut self, bytes: &[u8]) -> Vec<Self::Frame>;
    /// The body ended: frames that only the end completes.
    fn finish(&mut self) -> Vec<Self::Frame>;
}

/// Lines ended by `\n`, `\r\n` or `\r`, without their ending.
#[derive(Debug, Default)]
pub struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// The lines completed by `bytes`.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut lines = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < self.pending.len() {
            let ending = match self.pending[i] {
                b'\n' => 1,
                // A `\r` at the end of what arrived may be the first half of
                // `\r\n`: wait for the next byte.
                b'\r' if i + 1 == self.pending.len() => break,
                b'\r' if self.pending[i + 1] == b'\n' => 2,
                b'\r' => 1,
                _ => {
                    i += 1;
                    continue;
                }
            };
            lines.push(decode(&self.pending[start..i]));
            i += ending;
            start = i;
        }
        self.pending.drain(..start);
        lines
    }

    /// The last line, when the body ended without a line ending.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        let rest = rest.strip_suffix(b"\r").unwrap_or(&rest);
        (!rest.is_empty()).then(|| decode(rest))
    }
}

fn decode(line: &[u8]) -> String {
    String::from_utf8_lossy(line).into_owned()
}

/// Newline-delimited JSON: one value per non-blank line. The last line may
/// lack its newline.
#[derive(Debug, Default)]
pub struct Ndjson {
    lines: Lines,
}

impl Framing for Ndjson {
    type Frame = String;

    fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let lines = self.lines.feed(bytes);
        lines.into_iter().filter(|l| !l.trim().is_empty()).collect()
    }

    fn finish(&mut self) -> Vec<String> {
        self.lines
            .finish()
            .filter(|l| !l.trim().is_empty())
            .into_iter()
            .collect()
    }
}

/// One Server-Sent Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `message` when the event names none.
    pub event: String,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
}

/// Server-Sent Events as the HTML standard parses them: `event:` and
/// `data:` fields (one optional space after the colon), several `data:`
/// lines joined by `\n`, `:` comments and `id:`/`retry:` ignored, an event
/// dispatched at a blank line, one without data dropped.
#[derive(Debug, Default)]
pub struct Sse {
    lines: Lines,
    started: bool,
    event: Option<String>,
    data: Option<String>,
}

impl Sse {
    fn line(&mut self, mut line: String) -> Option<SseEvent> {
        if !self.started {
            self.started = true;
            if let Some(rest) = line.strip_prefix('\u{feff}') {
                line = rest.to_owned();
            }
        }
        if line.is_empty() {
            return self.dispatch();
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            // A comment (keep-alives use them).
            "" => {}
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        let data = self.data.take()?;
        Some(SseEvent {
            event: event
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "message".into()),
            data,
        })
    }
}

impl Framing for Sse {
    type Frame = SseEvent;

    fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let lines = self.lines.feed(bytes);
        lines.into_iter().filter_map(|l| self.line(l)).collect()
    }

    /// An event not closed by a blank line when the body ends is dropped,
    /// as the standard says: it may have been cut short.
    fn finish(&mut self) -> Vec<SseEvent> {
        if let Some(last) = self.lines.finish() {
            self.line(last);
        }
        self.event = None;
        self.data = None;
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `body` split at every possible pair of points, so that frames
    /// (and characters) are cut everywhere, and checks each split yields
    /// the same frames as the whole body.
    fn every_split<F: Framing>(body: &[u8]) -> Vec<F::Frame>
    where
        F::Frame: PartialEq + std::fmt::Debug,
    {
        let whole = {
            let mut framing = F::default();
            let mut frames = framing.feed(body);
            frames.extend(framing.finish());
            frames
        };
        for i in 0..=body.len() {
            for j in i..=body.len() {
                let mut framing = F::default();
                let mut frames = framing.feed(&body[..i]);
                frames.extend(framing.feed(&body[i..j]));
                frames.extend(framing.feed(&body[j..]));
                frames.extend(framing.finish());
                assert_eq!(frames, whole, "split at {i} and {j}");
            }
        }
        whole
    }

    fn sse(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn lines_end_at_lf_crlf_or_cr_and_a_last_line_needs_no_ending() {
        let mut lines = Lines::default();
        assert_eq!(lines.feed(b"a\nb\r\nc\rd"), ["a", "b", "c"]);
        assert_eq!(lines.feed(b"\r"), Vec::<String>::new(), "maybe \\r\\n");
        assert_eq!(lines.feed(b"\ne"), ["d"]);
        assert_eq!(lines.finish().as_deref(), Some("e"));
        assert_eq!(lines.finish(), None);
    }

    #[test]
    fn a_character_split_between_reads_is_decoded_whole() {
        let body = "é€😀\n".as_bytes();
        let mut lines = Lines::default();
        let mut got = Vec::new();
        for byte in body {
            got.extend(lines.feed(std::slice::from_ref(byte)));
        }
        assert_eq!(got, ["é€😀"]);
    }

    #[test]
    fn ndjson_yields_one_value_per_non_blank_line_wherever_reads_split() {
        let body = b"{\"a\":1}\n\n{\"b\":\"\xc3\xa9\"}\r\n  \n{\"c\":3}";
        let frames = every_split::<Ndjson>(body);
        assert_eq!(frames, ["{\"a\":1}", "{\"b\":\"é\"}", "{\"c\":3}"]);
    }

    #[test]
    fn sse_parses_named_events_multi_line_data_and_comments_wherever_reads_split() {
        let body = b": keep-alive\r\n\r\nevent: ping\r\ndata: {}\r\n\r\n\
data: first\ndata:second\ndata:  third\nid: 7\nretry: 10\n\n\
event:content\ndata: caf\xc3\xa9\n\n";
        let frames = every_split::<Sse>(body);
        assert_eq!(
            frames,
            [
                sse("ping", "{}"),
                sse("message", "first\nsecond\n third"),
                sse("content", "café"),
            ]
        );
    }

    #[test]
    fn sse_drops_events_without_data_and_an_event_cut_off_by_the_end() {
        let mut parser = Sse::default();
        assert_eq!(
            parser.feed(b"event: lonely\n\ndata\n\n"),
            [sse("message", "")]
        );
        assert_eq!(parser.feed(b"event: x\ndata: {\"cut"), []);
        assert_eq!(parser.finish(), []);
    }

    #[test]
    fn sse_ignores_a_byte_order_mark_and_names_the_event_only_once() {
        let mut parser = Sse::default();
        let events = parser.feed("\u{feff}event: a\ndata: 1\n\ndata: 2\n\n".as_bytes());
        assert_eq!(events, [sse("a", "1"), sse("message", "2")]);
    }
}
