//! Streamed answers in each vendor's documented format: OpenAI
//! `chat.completion.chunk` SSE ending with `data: [DONE]`, Anthropic's
//! named SSE events from `message_start` to `message_stop`, Ollama's NDJSON
//! lines ending with `done: true`, Gemini's SSE `GenerateContentResponse`
//! chunks. The scenarios that fail before a stream starts (HTTP errors,
//! no answer at all) answer as `whole` does.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Finish, Mock, PIECES, USAGE, Vendor, whole};

/// A stream in parts: what opens it, one frame per piece of text, and what
/// closes it (finish reason, usage, end marker). Gemini has no end marker:
/// its last piece carries the finish reason.
struct Frames {
    head: Vec<String>,
    pieces: Vec<String>,
    tail: Vec<String>,
}

/// What a body does next.
pub(super) enum Step {
    Send(String),
    /// Waits until the test calls `MockVendor::release`.
    Wait,
    /// Drops the connection mid-body.
    Cut,
    /// Sends nothing more, ever.
    Stall,
}

pub(super) async fn answer(mock: &Arc<Mock>, model: &str, seen_before: usize) -> Response {
    let vendor = mock.vendor;
    let frames = |finish| frames(vendor, model, finish);
    let send = |frames: Vec<String>| frames.into_iter().map(Step::Send).collect::<Vec<_>>();
    let steps = match model {
        "flaky" if seen_before == 0 => return whole::rate_limited(vendor, Some(1)),
        "ok" | "flaky" => send(frames(Finish::Stop).all()),
        "length" => send(frames(Finish::Length).all()),
        "tool" | "round-trip" => send(frames(Finish::Tool).all()),
        "round-trip-answered" => send(frames_of(vendor, "round-trip", Finish::Stop).all()),
        "filtered" => match vendor {
            Vendor::Anthropic => send(frames(Finish::Refusal).all()),
            Vendor::Gemini => send(vec![gemini_blocked(model)]),
            _ => return whole::filtered(vendor, model),
        },
        "malformed" => send(vec![frame(vendor, None, "<html>this is not JSON</html>")]),
        "half-json" => {
            let first = first_data(vendor, model);
            send(vec![frame(vendor, None, &first[..first.len() / 2])])
        }
        "truncated" | "stalls" => {
            let Frames { head, pieces, .. } = frames(Finish::Stop);
            let mut steps = send([head, pieces[..2].to_vec()].concat());
            steps.push(if model == "truncated" {
                Step::Cut
            } else {
                Step::Stall
            });
            steps
        }
        "fails-midway" | "midway-then-ok" if model == "fails-midway" || seen_before == 0 => {
            let Frames { head, pieces, .. } = frames(Finish::Stop);
            send([head, pieces[..2].to_vec(), vec![error_frame(vendor)]].concat())
        }
        "midway-then-ok" => send(frames(Finish::Stop).all()),
        "unfinished" => {
            let Frames { head, pieces, .. } = frames(Finish::Stop);
            send([head, pieces].concat())
        }
        "gated" => {
            let Frames { head, pieces, tail } = frames(Finish::Stop);
            let mut steps = send([head, pieces[..1].to_vec()].concat());
            steps.push(Step::Wait);
            steps.extend(send([pieces[1..].to_vec(), tail].concat()));
            steps
        }
        _ => return whole::answer(mock, model, seen_before).await,
    };
    let content_type = match vendor {
        Vendor::Ollama => "application/x-ndjson",
        _ => "text/event-stream",
    };
    body(mock, content_type, steps)
}

impl Frames {
    fn all(self) -> Vec<String> {
        [self.head, self.pieces, self.tail].concat()
    }
}

/// A body sent as `steps` say, piece by piece.
pub(super) fn body(mock: &Arc<Mock>, content_type: &str, steps: Vec<Step>) -> Response {
    let state = (steps.into_iter(), mock.clone());
    let chunks = futures::stream::unfold(state, |(mut steps, mock)| async move {
        loop {
            let chunk = match steps.next()? {
                Step::Send(text) => Ok(Bytes::from(text)),
                Step::Cut => Err(std::io::Error::other("connection cut")),
                Step::Stall => std::future::pending().await,
                Step::Wait => {
                    mock.gate.acquire().await.unwrap().forget();
                    continue;
                }
            };
            return Some((chunk, (steps, mock)));
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type.parse().unwrap());
    response
}

/// One frame: an SSE event (named or not) or an NDJSON line.
fn frame(vendor: Vendor, event: Option<&str>, data: &str) -> String {
    match (vendor, event) {
        (Vendor::Ollama, _) => format!("{data}\n"),
        (_, Some(event)) => format!("event: {event}\ndata: {data}\n\n"),
        (_, None) => format!("data: {data}\n\n"),
    }
}

/// `frames`, for `answer`, whose closure of that name answers for the
/// model asked.
fn frames_of(vendor: Vendor, model: &str, finish: Finish) -> Frames {
    frames(vendor, model, finish)
}

fn frames(vendor: Vendor, model: &str, finish: Finish) -> Frames {
    let resolved = format!("{model}-2025");
    match vendor {
        Vendor::OpenAi => openai(&resolved, finish),
        Vendor::Anthropic => anthropic(&resolved, finish),
        Vendor::Ollama => ollama(&resolved, finish),
        Vendor::Gemini => gemini(&resolved, finish),
    }
}

/// The data of a stream's first frame that carries text.
fn first_data(vendor: Vendor, model: &str) -> String {
    let first = frames(vendor, model, Finish::Stop).pieces.remove(0);
    let data = first.lines().find_map(|l| l.strip_prefix("data: "));
    data.unwrap_or(first.trim_end()).to_owned()
}

fn openai(model: &str, finish: Finish) -> Frames {
    let chunk = |delta: Value, finish_reason: Value, usage: Value| {
        let choices = if delta.is_null() {
            json!([])
        } else {
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}])
        };
        let chunk = json!({
            "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion.chunk",
            "created": 1741570283, "model": model, "service_tier": "default",
            "system_fingerprint": "fp_06737a9306", "choices": choices, "usage": usage
        });
        frame(Vendor::OpenAi, None, &chunk.to_string())
    };
    let (input, output) = USAGE;
    let (content, deltas, reason) = match finish {
        Finish::Tool => (
            Value::Null,
            vec![
                json!({"tool_calls": [{"index": 0, "id": "call_abc123", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
            ],
            "tool_calls",
        ),
        other => (
            json!(""),
            PIECES.iter().map(|p| json!({"content": p})).collect(),
            if matches!(other, Finish::Length) {
                "length"
            } else {
                "stop"
            },
        ),
    };
    Frames {
        head: vec![chunk(
            json!({"role": "assistant", "content": content, "refusal": null}),
            Value::Null,
            Value::Null,
        )],
        pieces: deltas
            .into_iter()
            .map(|d| chunk(d, Value::Null, Value::Null))
            .collect(),
        tail: vec![
            chunk(json!({}), json!(reason), Value::Null),
            chunk(
                Value::Null,
                Value::Null,
                json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output,
                       "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                       "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}),
            ),
            "data: [DONE]\n\n".to_owned(),
        ],
    }
}

fn anthropic(model: &str, finish: Finish) -> Frames {
    let event = |name: &str, data: Value| frame(Vendor::Anthropic, Some(name), &data.to_string());
    let (input, output) = USAGE;
    let reason = match finish {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::Tool => "tool_use",
        Finish::Refusal => "refusal",
    };
    let mut tail = vec![event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    )];
    if matches!(finish, Finish::Tool) {
        tail.extend([
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {}}}),
            ),
        ]);
        // The arguments in fragments, as the API sends them.
        for fragment in ["{\"ci", "ty\": \"Pa", "ris\"}"] {
            tail.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": fragment}}),
            ));
        }
        tail.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ));
    }
    tail.extend([
        event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": null}, "usage": {"output_tokens": output}}),
        ),
        event("message_stop", json!({"type": "message_stop"})),
    ]);
    Frames {
        head: vec![
            event(
                "message_start",
                json!({"type": "message_start", "message": {
                    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant",
                    "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": input, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}
                }}),
            ),
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            event("ping", json!({"type": "ping"})),
        ],
        pieces: PIECES
            .iter()
            .map(|p| {
                event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}),
                )
            })
            .collect(),
        tail,
    }
}

fn ollama(model: &str, finish: Finish) -> Frames {
    let line = |message: Value, done: bool| {
        let mut line = json!({"model": model, "created_at": "2023-08-04T08:52:19.385406455-07:00", "message": message, "done": done});
        if done {
            let (input, output) = USAGE;
            let reason = if matches!(finish, Finish::Length) {
                "length"
            } else {
                "stop"
            };
            for (key, value) in [
                ("done_reason", json!(reason)),
                ("total_duration", json!(4883583458u64)),
                ("load_duration", json!(1334875)),
                ("prompt_eval_count", json!(input)),
                ("prompt_eval_duration", json!(342546000)),
                ("eval_count", json!(output)),
                ("eval_duration", json!(4535599000u64)),
            ] {
                line[key] = value;
            }
        }
        frame(Vendor::Ollama, None, &line.to_string())
    };
    let mut tail = Vec::new();
    if matches!(finish, Finish::Tool) {
        tail.push(line(
            json!({"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}),
            false,
        ));
    }
    tail.push(line(json!({"role": "assistant", "content": ""}), true));
    Frames {
        head: Vec::new(),
        pieces: PIECES
            .iter()
            .map(|p| line(json!({"role": "assistant", "content": p}), false))
            .collect(),
        tail,
    }
}

fn gemini(model: &str, finish: Finish) -> Frames {
    let (input, output) = USAGE;
    let chunk = |parts: Value, last: Option<&str>| {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        let usage = match last {
            Some(reason) => {
                candidate["finishReason"] = json!(reason);
                json!({"promptTokenCount": input, "candidatesTokenCount": output, "totalTokenCount": input + output})
            }
            None => json!({"promptTokenCount": input, "totalTokenCount": input}),
        };
        let chunk = json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model, "responseId": "mcBmaNKsNaOhz7IP1ojO0Ao"});
        frame(Vendor::Gemini, None, &chunk.to_string())
    };
    let (last, rest) = PIECES.split_last().unwrap();
    let (parts, reason) = match finish {
        Finish::Length => (json!([{"text": last}]), "MAX_TOKENS"),
        Finish::Tool => (
            json!([{"text": last}, {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]),
            "STOP",
        ),
        Finish::Stop | Finish::Refusal => (json!([{"text": last}]), "STOP"),
    };
    Frames {
        head: Vec::new(),
        pieces: rest
            .iter()
            .map(|p| chunk(json!([{"text": p}]), None))
            .collect(),
        tail: vec![chunk(parts, Some(reason))],
    }
}

fn gemini_blocked(model: &str) -> String {
    let chunk = json!({
        "promptFeedback": {
            "blockReason": "SAFETY",
            "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}]
        },
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
        "modelVersion": format!("{model}-2025")
    });
    frame(Vendor::Gemini, None, &chunk.to_string())
}

/// The vendor's way of failing once a stream has started.
fn error_frame(vendor: Vendor) -> String {
    let (event, data) = match vendor {
        Vendor::OpenAi => (
            None,
            json!({"error": {"message": "The server had an error while processing your request. Sorry about that!", "type": "server_error", "param": null, "code": null}}),
        ),
        Vendor::Anthropic => (
            Some("error"),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ),
        Vendor::Ollama => (
            None,
            json!({"error": "an error was encountered while running the model: unexpected EOF"}),
        ),
        Vendor::Gemini => (
            None,
            json!({"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}),
        ),
    };
    frame(vendor, event, &data.to_string())
}
