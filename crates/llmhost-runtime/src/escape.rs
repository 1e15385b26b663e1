//! Plugin-supplied text made safe for one log line, in either log format:
//! every control character (newline, CR, NUL, escape, tab, …), the Unicode
//! line and paragraph separators and the backslash are written as escapes,
//! so a plugin cannot forge or split a line; and the text is cut at a
//! bounded length, saying how much was left out.

use std::fmt::{self, Display, Write as _};

/// The most of one plugin-supplied text a log line shows.
pub const LOG_TEXT_BYTES: usize = 2048;

/// Displays `text` escaped and cut to `LOG_TEXT_BYTES`.
pub struct Escaped<'a>(pub &'a str);

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = 0;
        for (at, c) in self.0.char_indices() {
            if shown >= LOG_TEXT_BYTES {
                return write!(f, "… ({} more bytes)", self.0.len() - at);
            }
            shown += match c {
                '\\' => f.write_str("\\\\").map(|()| 2)?,
                '\n' => f.write_str("\\n").map(|()| 2)?,
                '\r' => f.write_str("\\r").map(|()| 2)?,
                '\t' => f.write_str("\\t").map(|()| 2)?,
                '\0' => f.write_str("\\0").map(|()| 2)?,
                c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                    write!(f, "\\u{{{:x}}}", c as u32).map(|()| 8)?
                }
                c => f.write_char(c).map(|()| c.len_utf8())?,
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_control_characters_cannot_forge_a_line() {
        let forged =
            "ok\n2026-01-01T00:00:00Z  INFO llmhost: admin logged in\r\0\u{1b}[2J\u{2028}\\n";
        let shown = Escaped(forged).to_string();
        assert_eq!(
            shown,
            "ok\\n2026-01-01T00:00:00Z  INFO llmhost: admin logged in\\r\\0\\u{1b}[2J\\u{2028}\\\\n"
        );
        assert!(!shown.chars().any(|c| c.is_control()));
    }

    #[test]
    fn long_text_is_cut_and_says_how_much_is_missing() {
        let long = "é".repeat(5000);
        let shown = Escaped(&long).to_string();
        assert!(shown.len() < LOG_TEXT_BYTES + 40, "{}", shown.len());
        assert!(
            shown.ends_with(&format!("… ({} more bytes)", 10_000 - LOG_TEXT_BYTES)),
            "{shown}"
        );
        assert_eq!(Escaped("plain").to_string(), "plain");
    }
}
