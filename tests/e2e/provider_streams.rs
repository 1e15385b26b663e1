//! Streamed text from the real provider plugins: it reaches clients of the
//! task events and of `/v1/chat/completions` while the mock upstream is
//! still holding the rest, and the pieces add up to the answer; a stream
//! that fails after some text fails whole (a task's retry starts over);
//! an upstream that answers whole although asked to stream still serves a
//! stream.

use std::collections::VecDeque;

use serde_json::Value;

use crate::harness::PATIENCE;
use crate::mock_vendors::{ANSWER, MockVendor, PIECES, USAGE, Vendor};
use crate::providers::{chat, post_chat, serve, task};

/// Server-Sent Events read from a response as they arrive.
pub(crate) struct Events {
    response: reqwest::Response,
    buffer: Vec<u8>,
    ready: VecDeque<(String, String)>,
}

impl Events {
    pub(crate) fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buffer: Vec::new(),
            ready: VecDeque::new(),
        }
    }

    /// The next event's name (`message` when unnamed) and data; `None` when
    /// the body ends. Fails the test after `PATIENCE` without one.
    pub(crate) async fn next(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("the next event in time")
                .expect("read the event stream")?;
            self.buffer.extend_from_slice(&chunk);
            while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let block = String::from_utf8(block).expect("UTF-8 events");
                let mut name = "message".to_owned();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = n.to_owned();
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push(d);
                    }
                }
                if !data.is_empty() {
                    self.ready.push_back((name, data.join("\n")));
                }
            }
        }
    }

    /// The data of the next event called `name`, skipping others.
    async fn next_named(&mut self, name: &str) -> Value {
        loop {
            let (event, data) = self.next().await.expect("the stream goes on");
            if event == name {
                return serde_json::from_str(&data).unwrap();
            }
        }
    }
}

/// The text of a `chat.completion.chunk`, if it carries some.
fn chunk_text(chunk: &Value) -> Option<&str> {
    chunk["choices"].get(0)?["delta"]["content"]
        .as_str()
        .filter(|t| !t.is_empty())
}

/// The upstream sends its first piece of text and then holds the rest
/// until the test releases it: that piece must reach a client of the task
/// events and of `/v1/chat/completions` meanwhile, and the pieces must add
/// up to the answer. A stream that fails after some text fails whole.
async fn text_streams_while_the_upstream_is_still_answering(vendor: Vendor) {
    let mock = MockVendor::start(vendor).await;
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), vendor, &mock, "sk-streaming").await;
    let context = vendor.plugin();

    let id = server.submit(&task(vendor, "gated", 1)).await;
    let url = server.url(&format!("/api/v1/tasks/{id}/events"));
    let mut events = Events::new(server.http.get(url).send().await.unwrap());
    let first = events.next_named("delta").await;
    assert_eq!(first["text"], PIECES[0], "{context}: {first}");
    assert_eq!(server.task(&id).await["status"], "running", "{context}");
    mock.release();
    let mut text = first["text"].as_str().unwrap().to_owned();
    let result = loop {
        let (event, data) = events.next().await.expect("a result event");
        let data: Value = serde_json::from_str(&data).unwrap();
        match event.as_str() {
            "delta" => text.push_str(data["text"].as_str().unwrap()),
            "result" => break data,
            _ => {}
        }
    };
    assert_eq!(text, ANSWER, "{context}");
    assert_eq!(result["text"], ANSWER, "{context}: {result}");
    assert_eq!(result["finish_reason"], "stop", "{context}: {result}");
    assert_eq!(result["usage"]["input_tokens"], USAGE.0, "{context}");
    assert_eq!(result["usage"]["output_tokens"], USAGE.1, "{context}");
    assert_eq!(result["model"], "gated-2025", "{context}: {result}");
    assert_eq!(server.task(&id).await["result"], result, "{context}");

    let response = post_chat(&server, &chat(vendor, "gated", true)).await;
    assert_eq!(response.status().as_u16(), 200, "{context}");
    let mut events = Events::new(response);
    let mut chunks = Vec::new();
    let first = loop {
        let (_, data) = events.next().await.expect("a chunk with text");
        let chunk: Value = serde_json::from_str(&data).unwrap();
        if let Some(text) = chunk_text(&chunk) {
            break text.to_owned();
        }
        chunks.push(chunk);
    };
    assert_eq!(first, PIECES[0], "{context}");
    mock.release();
    let mut text = first;
    let mut data = Vec::new();
    while let Some((_, d)) = events.next().await {
        data.push(d);
    }
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{context}");
    for d in &data[..data.len() - 1] {
        chunks.push(serde_json::from_str(d).unwrap());
    }
    text.extend(chunks.iter().filter_map(chunk_text));
    assert_eq!(text, ANSWER, "{context}");
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"].get(0)?["finish_reason"].as_str());
    assert_eq!(finish, Some("stop"), "{context}");
    assert_eq!(
        chunks.last().unwrap()["usage"]["completion_tokens"],
        USAGE.1
    );

    // A task whose first attempt failed after some text: the retry starts
    // over, and the result is the second attempt's text alone.
    let id = server.submit(&task(vendor, "midway-then-ok", 2)).await;
    let url = server.url(&format!("/api/v1/tasks/{id}/events"));
    let mut events = Events::new(server.http.get(url).send().await.unwrap());
    let mut retried = String::new();
    let result = loop {
        let (event, data) = events.next().await.expect("a result event");
        let data: Value = serde_json::from_str(&data).unwrap();
        match event.as_str() {
            "delta" if data["attempt"] == 2 => retried.push_str(data["text"].as_str().unwrap()),
            "result" => break data,
            _ => {}
        }
    };
    assert_eq!(result["text"], ANSWER, "{context}: {result}");
    assert_eq!(retried, ANSWER, "{context}");
    assert_eq!(server.task(&id).await["attempts"], 2, "{context}");

    // Text went out, then the upstream failed: the stream ends with an
    // OpenAI error event and no [DONE].
    let response = post_chat(&server, &chat(vendor, "fails-midway", true)).await;
    assert_eq!(response.status().as_u16(), 200, "{context}");
    let mut events = Events::new(response);
    let mut data = Vec::new();
    while let Some((_, d)) = events.next().await {
        data.push(serde_json::from_str::<Value>(&d).unwrap());
    }
    let text: String = data.iter().filter_map(chunk_text).collect();
    assert_eq!(text, PIECES[..2].concat(), "{context}: {data:?}");
    let code = &data.last().unwrap()["error"]["code"];
    assert!(
        *code == "upstream_error" || *code == "upstream_unavailable",
        "{context}: {data:?}"
    );

    // Asked to stream, the upstream answers one whole JSON body (a caching
    // or mocking proxy): the client's stream carries it as one piece.
    let response = post_chat(&server, &chat(vendor, "ignores-stream", true)).await;
    assert_eq!(response.status().as_u16(), 200, "{context}");
    let mut events = Events::new(response);
    let mut data = Vec::new();
    while let Some((_, d)) = events.next().await {
        data.push(d);
    }
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{context}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let text: String = chunks.iter().filter_map(chunk_text).collect();
    assert_eq!(text, ANSWER, "{context}: {chunks:?}");
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"].get(0)?["finish_reason"].as_str());
    assert_eq!(finish, Some("stop"), "{context}");
    assert!(
        mock.requests_for("ignores-stream").iter().all(|r| r.stream),
        "{context}: the plugin asked for a stream"
    );
}

#[tokio::test]
async fn openai_streams_text_while_the_upstream_is_still_answering() {
    text_streams_while_the_upstream_is_still_answering(Vendor::OpenAi).await;
}

#[tokio::test]
async fn anthropic_streams_text_while_the_upstream_is_still_answering() {
    text_streams_while_the_upstream_is_still_answering(Vendor::Anthropic).await;
}

#[tokio::test]
async fn ollama_streams_text_while_the_upstream_is_still_answering() {
    text_streams_while_the_upstream_is_still_answering(Vendor::Ollama).await;
}

#[tokio::test]
async fn gemini_streams_text_while_the_upstream_is_still_answering() {
    text_streams_while_the_upstream_is_still_answering(Vendor::Gemini).await;
}
