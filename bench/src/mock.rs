//! The mock upstream: `POST …/chat/completions` answers a fixed OpenAI chat
//! completion, or, when the request says `"stream": true`, a fixed
//! server-sent event stream of `--chunks` content chunks `--chunk-gap-us`
//! apart (the first at once), then a finish chunk, a usage chunk and
//! `[DONE]`. The answers are built once; a request costs reading its body
//! and one write per chunk.
//!
//! `GET /stats` answers `{"connections": N, "requests": M}`: accepted TCP
//! connections and answered completions since start. The harness reads it
//! before and after a round to count upstream connections per request.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

#[derive(clap::Args)]
/// Serve the mock OpenAI-compatible upstream.
pub(crate) struct Args {
    /// Address to listen on; port 0 picks one. Prints
    /// `mock listening on http://ADDR` when ready.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Content chunks in a streamed answer.
    #[arg(long, default_value_t = 20)]
    chunks: usize,
    /// Microseconds between two content chunks of a stream.
    #[arg(long, default_value_t = 1000)]
    chunk_gap_us: u64,
}

/// The text of the whole answer; the load generator checks for it.
pub(crate) const ANSWER_TEXT: &str = "Hello from the mock upstream.";

const WHOLE: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1741570283,"model":"ok","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock upstream.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}"#;

#[derive(Default)]
struct Stats {
    connections: AtomicU64,
    requests: AtomicU64,
}

struct Answers {
    whole: Bytes,
    /// The role chunk and the first content chunk, sent together at once.
    stream_head: Bytes,
    /// Each later content chunk, one event each.
    stream_chunks: Vec<Bytes>,
    /// Finish, usage and `[DONE]`, sent with the last content chunk.
    stream_tail: Bytes,
    gap: Duration,
}

fn event(json: &str) -> String {
    format!("data: {json}\n\n")
}

fn chunk(delta: &str, finish: &str) -> String {
    event(&format!(
        r#"{{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1741570283,"model":"ok","choices":[{{"index":0,"delta":{delta},"finish_reason":{finish}}}]}}"#
    ))
}

impl Answers {
    fn new(chunks: usize, gap: Duration) -> Self {
        let content = |i: usize| chunk(&format!(r#"{{"content":"tok{i} "}}"#), "null");
        let head = chunk(r#"{"role":"assistant","content":""}"#, "null") + &content(0);
        let stream_chunks = (1..chunks.max(1))
            .map(|i| Bytes::from(content(i)))
            .collect();
        let tail = chunk("{}", r#""stop""#)
            + &event(
                r#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1741570283,"model":"ok","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":20,"total_tokens":29}}"#,
            )
            + "data: [DONE]\n\n";
        Self {
            whole: Bytes::from_static(WHOLE.as_bytes()),
            stream_head: Bytes::from(head),
            stream_chunks,
            stream_tail: Bytes::from(tail),
            gap,
        }
    }
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("mock listening on http://{}", listener.local_addr()?);
    let stats = Arc::new(Stats::default());
    let answers = Arc::new(Answers::new(
        args.chunks,
        Duration::from_micros(args.chunk_gap_us),
    ));
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let (stats, answers) = (stats.clone(), answers.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let (stats, answers) = (stats.clone(), answers.clone());
                async move { Ok::<_, Infallible>(answer(request, &stats, &answers).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

async fn answer(
    request: http::Request<Incoming>,
    stats: &Stats,
    answers: &Answers,
) -> http::Response<Body> {
    if request.method() == http::Method::GET && request.uri().path() == "/stats" {
        let json = format!(
            r#"{{"connections":{},"requests":{}}}"#,
            stats.connections.load(Ordering::Relaxed),
            stats.requests.load(Ordering::Relaxed)
        );
        return respond(200, "application/json", full(Bytes::from(json)));
    }
    if request.method() != http::Method::POST || !request.uri().path().ends_with("/completions") {
        return respond(404, "application/json", full(Bytes::from_static(b"{}")));
    }
    let Ok(body) = request.into_body().collect().await else {
        return respond(400, "application/json", full(Bytes::from_static(b"{}")));
    };
    stats.requests.fetch_add(1, Ordering::Relaxed);
    if !asks_to_stream(&body.to_bytes()) {
        return respond(200, "application/json", full(answers.whole.clone()));
    }
    let (head, chunks, tail, gap) = (
        answers.stream_head.clone(),
        answers.stream_chunks.clone(),
        answers.stream_tail.clone(),
        answers.gap,
    );
    let last = chunks.len();
    // Chunks keep a steady cadence from the first one (a sleep per chunk
    // would drift by the timer's granularity each time).
    let first = tokio::time::Instant::now();
    let frames = futures::stream::iter(0..=last).then(move |i| {
        let piece = match i {
            0 if last == 0 => [head.clone(), tail.clone()].concat().into(),
            0 => head.clone(),
            i if i == last => [chunks[i - 1].clone(), tail.clone()].concat().into(),
            i => chunks[i - 1].clone(),
        };
        async move {
            if i > 0 && !gap.is_zero() {
                tokio::time::sleep_until(first + gap * i as u32).await;
            }
            Ok::<_, Infallible>(Frame::data(piece))
        }
    });
    respond(
        200,
        "text/event-stream",
        UnsyncBoxBody::new(StreamBody::new(frames)),
    )
}

/// Whether the JSON body has `"stream": true` (a byte search: the mock must
/// not spend its time parsing).
fn asks_to_stream(body: &[u8]) -> bool {
    let key = b"\"stream\"";
    let Some(at) = body.windows(key.len()).position(|w| w == key) else {
        return false;
    };
    let rest = &body[at + key.len()..];
    let rest = trim_start(rest);
    let Some(rest) = rest.strip_prefix(b":") else {
        return false;
    };
    trim_start(rest).starts_with(b"true")
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &bytes[skip..]
}

fn full(bytes: Bytes) -> Body {
    UnsyncBoxBody::new(Full::new(bytes))
}

fn respond(status: u16, content_type: &str, body: Body) -> http::Response<Body> {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(body)
        .expect("static response parts are valid")
}

#[cfg(test)]
mod tests {
    use super::asks_to_stream;

    #[test]
    fn a_body_asks_to_stream_only_when_stream_is_true() {
        assert!(asks_to_stream(br#"{"model":"ok","stream":true}"#));
        assert!(asks_to_stream(br#"{"stream" : true, "model":"ok"}"#));
        assert!(!asks_to_stream(br#"{"model":"ok","stream":false}"#));
        assert!(!asks_to_stream(br#"{"model":"ok"}"#));
    }
}
