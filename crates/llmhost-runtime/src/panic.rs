//! A call's stderr, kept only to tell why it trapped: the plugin's own
//! panic message (what Rust's panic hook writes before `unreachable`) is
//! what its author needs, not wasmtime's backtrace of unnamed functions.
//! Bounded: only the last `KEPT` bytes are kept, and writing never fails.
//! The message is the plugin's text: secrets are redacted from it before it
//! is cut, so a secret across the cut cannot leave half of itself behind.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::redact::Redactor;

/// The tail of stderr that is kept: a panic message is the last thing a
/// panicking Rust plugin writes.
const KEPT: usize = 8 * 1024;

/// The longest panic message a call's error carries; a longer one is cut
/// (on a character boundary) and says so.
const MAX_MESSAGE: usize = 1024;

/// What a Rust plugin's panic hook writes after the location.
const HOOK_NOTE: &str = "\nnote: run with `RUST_BACKTRACE=1`";

/// One call's stderr. Clones share the buffer: the WASI context holds one,
/// the call reads the other after a trap.
#[derive(Clone, Default)]
pub(crate) struct Stderr {
    tail: Arc<Mutex<VecDeque<u8>>>,
}

impl Stderr {
    fn keep(&self, bytes: &[u8]) {
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = &bytes[bytes.len().saturating_sub(KEPT)..];
        let over = (tail.len() + bytes.len()).saturating_sub(KEPT);
        tail.drain(..over);
        tail.extend(bytes);
    }

    /// The last panic message written, with where it was raised:
    /// `deliberate panic (at src/lib.rs:19:9)`, with `redactor`'s secrets
    /// taken out.
    pub(crate) fn panic_message(&self, redactor: &Redactor) -> Option<String> {
        let tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        let (front, back) = tail.as_slices();
        panic_message(&String::from_utf8_lossy(&[front, back].concat()), redactor)
    }
}

/// Reads the last panic out of what Rust's default panic hook wrote:
/// `thread '…' panicked at <file>:<line>:<col>:\n<message>\nnote: …`
/// (newer toolchains write the thread's id too: `thread '…' (1) panicked`).
fn panic_message(stderr: &str, redactor: &Redactor) -> Option<String> {
    let (before, after) = stderr.rsplit_once(" panicked at ")?;
    // Output the plugin left without a newline may precede it on its line.
    let line = before.rsplit('\n').next().unwrap_or(before);
    if !line.contains("thread '") {
        return None;
    }
    let (location, rest) = after.split_once(":\n")?;
    let message = redactor.redacted(
        rest.split(HOOK_NOTE)
            .next()
            .unwrap_or(rest)
            .trim_end()
            .to_owned(),
    );
    let location = redactor.redacted(location.to_owned());
    let message = if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… (cut at {MAX_MESSAGE} bytes)", &message[..end])
    } else {
        message
    };
    Some(format!("{message} (at {location})"))
}

impl IsTerminal for Stderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Stderr {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// Always ready, never full: what does not fit pushes the oldest bytes out.
impl OutputStream for Stderr {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.keep(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(KEPT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Stderr {
    async fn ready(&mut self) {}
}

impl AsyncWrite for Stderr {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.keep(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Redactor {
        Redactor::default()
    }

    #[test]
    fn a_rust_panic_is_read_with_its_location() {
        let stderr = "some log\nthread '<unnamed>' (1) panicked at src/lib.rs:19:9:\n\
                      deliberate panic for model m\n\
                      note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            panic_message(stderr, &none()).as_deref(),
            Some("deliberate panic for model m (at src/lib.rs:19:9)")
        );
    }

    #[test]
    fn a_multi_line_message_is_kept_whole_and_the_last_panic_wins() {
        let stderr = "thread 'main' panicked at a.rs:1:1:\nfirst\n\
                      thread 'main' panicked at b.rs:2:2:\nline one\nline two\n";
        assert_eq!(
            panic_message(stderr, &none()).as_deref(),
            Some("line one\nline two (at b.rs:2:2)")
        );
    }

    #[test]
    fn stderr_without_a_panic_has_no_message() {
        assert_eq!(panic_message("just a log line\n", &none()), None);
        assert_eq!(
            panic_message("it panicked at a.rs:1:1:\nno thread\n", &none()),
            None
        );
        assert_eq!(panic_message("", &none()), None);
    }

    #[test]
    fn a_long_message_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE);
        let message = panic_message(
            &format!("thread 'x' panicked at a.rs:1:1:\n{long}\n"),
            &none(),
        )
        .unwrap();
        assert!(
            message.ends_with("… (cut at 1024 bytes) (at a.rs:1:1)"),
            "{message}"
        );
        assert!(message.len() < MAX_MESSAGE + 64);
    }

    #[test]
    fn only_the_tail_is_kept_and_writing_never_fails() {
        let mut stderr = Stderr::default();
        for _ in 0..100 {
            stderr.write(Bytes::from(vec![b'x'; 1000])).unwrap();
        }
        assert_eq!(stderr.check_write().unwrap(), KEPT);
        stderr
            .write(Bytes::from_static(
                b"thread 'main' panicked at a.rs:1:1:\nboom\n",
            ))
            .unwrap();
        assert_eq!(stderr.tail.lock().unwrap().len(), KEPT);
        assert_eq!(
            stderr.panic_message(&none()).as_deref(),
            Some("boom (at a.rs:1:1)")
        );
    }

    #[test]
    fn a_secret_across_the_cut_is_redacted_whole_before_cutting() {
        let secret = "sk-live-0123456789abcdef";
        let redactor = Redactor::new([secret.as_bytes()]);
        // The secret starts 10 bytes before the cut: cutting first would
        // keep `sk-live-01`, which no longer matches the secret.
        let message = format!("{}{secret} and more", "x".repeat(MAX_MESSAGE - 10));
        let stderr = format!("thread 'x' panicked at {secret}.rs:1:1:\n{message}\n");
        let read = panic_message(&stderr, &redactor).unwrap();
        assert!(!read.contains("sk-live"), "{read}");
        assert!(read.contains("[redacted]"), "{read}");
    }
}
