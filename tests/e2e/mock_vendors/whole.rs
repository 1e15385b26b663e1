//! Whole answers in each vendor's documented format: successes, the
//! vendors' error bodies and statuses, and broken bodies. Streamed answers
//! fall back to these for everything that fails before a stream starts.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::streamed::{self, Step};
use super::{ANSWER, Finish, Mock, STRUCTURED, USAGE, Vendor};

pub(super) async fn answer(mock: &Arc<Mock>, model: &str, seen_before: usize) -> Response {
    let vendor = mock.vendor;
    match model {
        // `ignores-stream` answers whole even when asked to stream, as a
        // caching or mocking proxy may.
        "ok" | "ignores-stream" => json(200, success(vendor, model, Finish::Stop)),
        "length" => json(200, success(vendor, model, Finish::Length)),
        "tool" | "round-trip" => json(200, success(vendor, model, Finish::Tool)),
        "round-trip-answered" => json(200, success(vendor, "round-trip", Finish::Stop)),
        "structured" => json(
            200,
            with_text(success(vendor, model, Finish::Stop), STRUCTURED),
        ),
        "filtered" => filtered(vendor, model),
        "flaky" if seen_before == 0 => rate_limited(vendor, Some(1)),
        "flaky" => json(200, success(vendor, model, Finish::Stop)),
        "rate-limited" => rate_limited(vendor, None),
        // `retry-after: 18446744073709551615`: wait forever, or overflow.
        "rate-limited-forever" => rate_limited(vendor, Some(u64::MAX)),
        "malformed" => raw(200, "application/json", "<html>this is not JSON</html>"),
        "half-json" => {
            let whole = success(vendor, model, Finish::Stop).to_string();
            raw(200, "application/json", &whole[..whole.len() / 2])
        }
        // The connection drops, or stalls, in the middle of the body.
        "truncated" | "stalls" => {
            let whole = success(vendor, model, Finish::Stop).to_string();
            let half = Step::Send(whole[..whole.len() / 2].to_owned());
            let then = if model == "truncated" {
                Step::Cut
            } else {
                Step::Stall
            };
            streamed::body(mock, "application/json", vec![half, then])
        }
        "slow" => std::future::pending().await,
        "gated" => {
            mock.gate.acquire().await.unwrap().forget();
            json(200, success(vendor, model, Finish::Stop))
        }
        // What the streamed answer of the same name fails with, answered
        // whole: the same error code either way.
        "fails-midway" | "midway-then-ok" if model == "fails-midway" || seen_before == 0 => {
            match vendor {
                Vendor::OpenAi | Vendor::Ollama => error(vendor, "broken"),
                Vendor::Anthropic => error(vendor, "overloaded"),
                Vendor::Gemini => error(vendor, "unavailable"),
            }
        }
        "midway-then-ok" => json(200, success(vendor, model, Finish::Stop)),
        "unfinished" => {
            let whole = success(vendor, model, Finish::Stop).to_string();
            raw(200, "application/json", &whole[..whole.len() / 2])
        }
        // A proxy in front of the vendor answers for it.
        "bad-gateway" => raw(
            502,
            "text/html",
            "<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>",
        ),
        "gateway-timeout" => raw(
            504,
            "text/html",
            "<html><head><title>504 Gateway Time-out</title></head><body>504 Gateway Time-out</body></html>",
        ),
        other => error(vendor, other),
    }
}

/// `answer` with `text` where it says `ANSWER`.
pub(super) fn with_text(answer: Value, text: &str) -> Value {
    let quoted = |t: &str| serde_json::to_string(t).unwrap();
    serde_json::from_str(&answer.to_string().replace(&quoted(ANSWER), &quoted(text))).unwrap()
}

/// A successful answer; the upstream resolves the model to `<model>-2025`.
pub(super) fn success(vendor: Vendor, model: &str, finish: Finish) -> Value {
    let resolved = format!("{model}-2025");
    let (input, output) = USAGE;
    match vendor {
        Vendor::OpenAi => {
            let (content, tool_calls, reason) = match finish {
                Finish::Stop | Finish::Refusal => (json!(ANSWER), Value::Null, "stop"),
                Finish::Length => (json!(ANSWER), Value::Null, "length"),
                Finish::Tool => (
                    Value::Null,
                    json!([{"id": "call_abc123", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]),
                    "tool_calls",
                ),
            };
            let mut message = json!({"role": "assistant", "content": content, "refusal": null});
            if !tool_calls.is_null() {
                message["tool_calls"] = tool_calls;
            }
            json!({
                "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
                "object": "chat.completion",
                "created": 1741570283,
                "model": resolved,
                "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": reason}],
                "usage": {
                    "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output,
                    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
                },
                "service_tier": "default",
                "system_fingerprint": "fp_06737a9306"
            })
        }
        Vendor::Anthropic => {
            let (content, reason) = match finish {
                Finish::Stop => (json!([{"type": "text", "text": ANSWER}]), "end_turn"),
                Finish::Refusal => (json!([{"type": "text", "text": ANSWER}]), "refusal"),
                Finish::Length => (json!([{"type": "text", "text": ANSWER}]), "max_tokens"),
                Finish::Tool => (
                    json!([
                        {"type": "text", "text": ANSWER},
                        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Paris"}}
                    ]),
                    "tool_use",
                ),
            };
            json!({
                "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
                "type": "message",
                "role": "assistant",
                "model": resolved,
                "content": content,
                "stop_reason": reason,
                "stop_sequence": null,
                "usage": {"input_tokens": input, "output_tokens": output, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
            })
        }
        Vendor::Ollama => {
            let (message, reason) = match finish {
                Finish::Stop | Finish::Refusal => {
                    (json!({"role": "assistant", "content": ANSWER}), "stop")
                }
                Finish::Length => (json!({"role": "assistant", "content": ANSWER}), "length"),
                Finish::Tool => (
                    json!({"role": "assistant", "content": ANSWER, "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}),
                    "stop",
                ),
            };
            json!({
                "model": resolved,
                "created_at": "2023-12-12T14:13:43.416799Z",
                "message": message,
                "done": true,
                "done_reason": reason,
                "total_duration": 5191566416u64,
                "load_duration": 2154458,
                "prompt_eval_count": input,
                "prompt_eval_duration": 383809000,
                "eval_count": output,
                "eval_duration": 4799921000u64
            })
        }
        Vendor::Gemini => {
            let (parts, reason) = match finish {
                Finish::Stop | Finish::Refusal => (json!([{"text": ANSWER}]), "STOP"),
                Finish::Length => (json!([{"text": ANSWER}]), "MAX_TOKENS"),
                Finish::Tool => (
                    json!([{"text": ANSWER}, {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]),
                    "STOP",
                ),
            };
            json!({
                "candidates": [{
                    "content": {"parts": parts, "role": "model"},
                    "finishReason": reason,
                    "index": 0,
                    "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
                }],
                "usageMetadata": {"promptTokenCount": input, "candidatesTokenCount": output, "totalTokenCount": input + output},
                "modelVersion": resolved,
                "responseId": "mcBmaNKsNaOhz7IP1ojO0Ao"
            })
        }
    }
}

/// The vendor's way of refusing content: an error for OpenAI, a refusal
/// stop reason for Anthropic, a blocked prompt for Gemini.
pub(super) fn filtered(vendor: Vendor, model: &str) -> Response {
    match vendor {
        Vendor::OpenAi => json(
            400,
            openai_error(
                "Your request was rejected as a result of our safety system.",
                "invalid_request_error",
                json!("content_policy_violation"),
            ),
        ),
        Vendor::Anthropic => json(200, success(vendor, model, Finish::Refusal)),
        Vendor::Gemini => json(
            200,
            json!({
                "promptFeedback": {
                    "blockReason": "SAFETY",
                    "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}]
                },
                "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
                "modelVersion": format!("{model}-2025")
            }),
        ),
        Vendor::Ollama => error(vendor, "bad-request"),
    }
}

pub(super) fn rate_limited(vendor: Vendor, retry_after_s: Option<u64>) -> Response {
    let mut response = match vendor {
        Vendor::OpenAi => {
            let mut r = json(
                429,
                openai_error(
                    "Rate limit reached for requests. Limit: 3, Used: 3, Requested: 1. Please try again in 1.5s.",
                    "requests",
                    json!("rate_limit_exceeded"),
                ),
            );
            r.headers_mut()
                .insert("retry-after-ms", "1500".parse().unwrap());
            r
        }
        Vendor::Anthropic => {
            let mut r = json(
                429,
                anthropic_error(
                    "rate_limit_error",
                    "Number of request tokens has exceeded your per-minute rate limit",
                ),
            );
            r.headers_mut().insert("retry-after", "2".parse().unwrap());
            r
        }
        Vendor::Ollama => {
            let mut r = json(429, json!({"error": "too many requests"}));
            r.headers_mut().insert("retry-after", "3".parse().unwrap());
            r
        }
        Vendor::Gemini => json(
            429,
            json!({"error": {
                "code": 429,
                "message": "You exceeded your current quota, please check your plan and billing details.",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "22s"}
                ]
            }}),
        ),
    };
    if let Some(seconds) = retry_after_s {
        let headers = response.headers_mut();
        headers.remove("retry-after-ms");
        headers.insert("retry-after", seconds.to_string().parse().unwrap());
        if vendor == Vendor::Gemini {
            *response.body_mut() = Body::from(
                json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}})
                    .to_string(),
            );
        }
    }
    response
}

/// The vendors' documented error answers.
pub(super) fn error(vendor: Vendor, scenario: &str) -> Response {
    match vendor {
        Vendor::OpenAi => {
            let (status, message, kind, code) = match scenario {
                "bad-request" => (
                    400,
                    "Invalid type for 'temperature': expected a decimal, but got a string instead.",
                    "invalid_request_error",
                    json!("invalid_type"),
                ),
                "context" => (
                    400,
                    "This model's maximum context length is 128000 tokens. However, your messages resulted in 130412 tokens. Please reduce the length of the messages.",
                    "invalid_request_error",
                    json!("context_length_exceeded"),
                ),
                "unauthorized" => (
                    401,
                    "Incorrect API key provided: sk-test-****. You can find your API key at https://platform.openai.com/account/api-keys.",
                    "invalid_request_error",
                    json!("invalid_api_key"),
                ),
                "forbidden" => (
                    403,
                    "Project does not have access to model `forbidden`",
                    "invalid_request_error",
                    json!("model_not_found"),
                ),
                "missing" => (
                    404,
                    "The model `missing` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    json!("model_not_found"),
                ),
                "broken" => (
                    500,
                    "The server had an error while processing your request. Sorry about that!",
                    "server_error",
                    Value::Null,
                ),
                "unavailable" => (
                    503,
                    "The engine is currently overloaded, please try again later.",
                    "server_error",
                    Value::Null,
                ),
                _ => (418, "unknown scenario", "mock", Value::Null),
            };
            json(status, openai_error(message, kind, code))
        }
        Vendor::Anthropic => {
            let (status, kind, message) = match scenario {
                "bad-request" => (
                    400,
                    "invalid_request_error",
                    "messages: roles must alternate between \"user\" and \"assistant\"",
                ),
                "context" => (
                    400,
                    "invalid_request_error",
                    "prompt is too long: 208310 tokens > 200000 maximum",
                ),
                "unauthorized" => (401, "authentication_error", "invalid x-api-key"),
                "forbidden" => (
                    403,
                    "permission_error",
                    "Your API key does not have permission to use the specified resource.",
                ),
                "missing" => (404, "not_found_error", "model: missing"),
                "broken" => (500, "api_error", "Internal server error"),
                // A proxy in front of the API answers 503 without Anthropic's body.
                "unavailable" => {
                    return raw(
                        503,
                        "text/plain",
                        "upstream connect error or disconnect/reset before headers",
                    );
                }
                "overloaded" => (529, "overloaded_error", "Overloaded"),
                _ => (418, "mock", "unknown scenario"),
            };
            json(status, anthropic_error(kind, message))
        }
        Vendor::Ollama => {
            let (status, message) = match scenario {
                "bad-request" => (
                    400,
                    "json: cannot unmarshal string into Go struct field ChatRequest.messages of type []api.Message",
                ),
                // Ollama has no credentials; a reverse proxy in front of it does.
                "unauthorized" => return raw(401, "text/plain", "401 Unauthorized"),
                "forbidden" => {
                    return raw(
                        403,
                        "text/html",
                        "<html><body><h1>403 Forbidden</h1></body></html>",
                    );
                }
                "missing" => (404, "model \"missing\" not found, try pulling it first"),
                "broken" => (500, "llama runner process has terminated: exit status 2"),
                "unavailable" => (
                    503,
                    "server busy, please try again.  maximum pending requests exceeded",
                ),
                _ => (418, "unknown scenario"),
            };
            json(status, json!({ "error": message }))
        }
        Vendor::Gemini => {
            let (status, rpc, message, details) = match scenario {
                "bad-request" => (
                    400,
                    "INVALID_ARGUMENT",
                    "* GenerateContentRequest.contents: contents is not specified\n",
                    json!([]),
                ),
                "context" => (
                    400,
                    "INVALID_ARGUMENT",
                    "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
                    json!([]),
                ),
                "unauthorized" => (
                    400,
                    "INVALID_ARGUMENT",
                    "API key not valid. Please pass a valid API key.",
                    json!([
                        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
                        {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": "API key not valid. Please pass a valid API key."}
                    ]),
                ),
                "forbidden" => (
                    403,
                    "PERMISSION_DENIED",
                    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                    json!([]),
                ),
                "missing" => (
                    404,
                    "NOT_FOUND",
                    "models/missing is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.",
                    json!([]),
                ),
                "broken" => (
                    500,
                    "INTERNAL",
                    "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
                    json!([]),
                ),
                "unavailable" => (
                    503,
                    "UNAVAILABLE",
                    "The model is overloaded. Please try again later.",
                    json!([]),
                ),
                _ => (418, "UNKNOWN", "unknown scenario", json!([])),
            };
            let mut error = json!({"code": status, "message": message, "status": rpc});
            if details.as_array().is_some_and(|d| !d.is_empty()) {
                error["details"] = details;
            }
            json(status, json!({ "error": error }))
        }
    }
}

fn openai_error(message: &str, kind: &str, code: Value) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

fn anthropic_error(kind: &str, message: &str) -> Value {
    json!({
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"
    })
}

pub(super) fn json(status: u16, body: Value) -> Response {
    raw(status, "application/json", &body.to_string())
}

pub(super) fn raw(status: u16, content_type: &str, body: &str) -> Response {
    let mut response = (StatusCode::from_u16(status).unwrap(), body.to_owned()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type.parse().unwrap());
    response
}
