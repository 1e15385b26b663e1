//! Contract 0.2's request features end to end, against `echo`'s feature
//! models over real HTTP: tool calls whole and streamed (OpenAI's
//! `delta.tool_calls` pieces reassemble to the call), a tool result
//! answered, JSON schemas, images by `data:` and `https:` URL, reasoning in
//! a task's result; and everything a model does not declare refused before
//! any call, naming the field (`/v1`: 400 `unsupported_parameter` with
//! `param`; tasks: 422 `invalid_request` with `param`).

use serde_json::{Value, json};

use crate::harness::Server;

async fn chat(server: &Server, body: &Value) -> (u16, Value) {
    let response = server
        .http
        .post(server.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn chat_stream(server: &Server, body: &Value) -> Vec<Value> {
    let response = server
        .http
        .post(server.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}, "days": {"type": "integer"}
        }, "required": ["city", "days"]}
    }})
}

fn refused(status: u16, body: &Value, param: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], param, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
}

#[tokio::test]
async fn a_tool_round_trip_through_v1_whole_and_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let mut messages = vec![json!({"role": "user", "content": "Paris in June"})];
    let body = json!({"model": "echo/echo-tools", "messages": messages, "tools": [weather_tool()]});
    let (status, answer) = chat(&server, &body).await;
    assert_eq!(status, 200, "{answer}");
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{answer}");
    assert_eq!(choice["message"]["content"], Value::Null, "{answer}");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"city": "Paris in June", "days": 3}));

    // Streamed: the pieces of `delta.tool_calls` make the same call.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let chunks = chat_stream(&server, &streamed).await;
    let pieces: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert!(pieces.len() > 2, "arguments in several pieces: {chunks:?}");
    assert_eq!(pieces[0]["id"], call["id"]);
    assert_eq!(pieces[0]["type"], "function");
    assert_eq!(pieces[0]["function"]["name"], "get_weather");
    let joined: String = pieces
        .iter()
        .map(|p| p["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(joined, call["function"]["arguments"].as_str().unwrap());
    assert!(pieces.iter().all(|p| p["index"] == 0));
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls")
    );

    // The client runs the tool and sends its result back.
    messages.push(choice["message"].clone());
    messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "sunny"}));
    let body = json!({"model": "echo/echo-tools", "messages": messages, "tools": [weather_tool()]});
    let (status, answer) = chat(&server, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "get_weather answered: sunny"
    );
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn structured_output_and_images_are_honoured_by_the_models_that_declare_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let schema = json!({"type": "object", "properties": {"answer": {"type": "string"},
                        "confident": {"type": "boolean"}}, "required": ["answer", "confident"],
                        "additionalProperties": false});
    let body = json!({"model": "echo/echo-json", "messages": [{"role": "user", "content": "yes"}],
                      "response_format": {"type": "json_schema",
                                          "json_schema": {"name": "reply", "schema": schema, "strict": true}}});
    let (status, answer) = chat(&server, &body).await;
    assert_eq!(status, 200, "{answer}");
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(content).unwrap();
    assert_eq!(parsed, json!({"answer": "yes", "confident": true}));

    // A 1x1 PNG by data: URL, and an image by https: URL.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    let body = json!({"model": "echo/echo-vision", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}")}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}}
    ]}]});
    let (status, answer) = chat(&server, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "2 image(s): image/png, 70 bytes; image/* at https://example.com/cat.jpg. Text: what is this?"
    );
}

#[tokio::test]
async fn v1_refuses_what_the_model_does_not_declare_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let user = json!([{"role": "user", "content": "hi"}]);
    let image = json!([{"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]);
    let audio = json!([{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]);
    let cases = [
        (
            json!({"model": "echo/echo", "messages": user, "tools": [weather_tool()]}),
            "tools",
        ),
        (json!({"model": "echo/echo", "messages": user, "n": 2}), "n"),
        (
            json!({"model": "echo/echo", "messages": user, "logprobs": true}),
            "logprobs",
        ),
        (
            json!({"model": "echo/echo", "messages": user, "response_format": {"type": "yaml"}}),
            "response_format",
        ),
        (
            json!({"model": "echo/echo", "messages": user, "response_format": {"type": "json_object"}}),
            "response_format",
        ),
        (
            json!({"model": "echo/echo", "messages": user, "user": "someone"}),
            "user",
        ),
        (
            json!({"model": "echo/echo", "messages": user, "presence_penalty": 0.5}),
            "presence_penalty",
        ),
        (
            json!({"model": "echo/echo", "messages": user, "reasoning_effort": "low"}),
            "reasoning_effort",
        ),
        (
            json!({"model": "echo/echo", "messages": user, "frobnicate": 1}),
            "frobnicate",
        ),
        (
            json!({"model": "echo/echo", "messages": image}),
            "messages[0].content[1]",
        ),
        (
            json!({"model": "echo/echo-vision", "messages": audio}),
            "messages[0].content[0]",
        ),
        (
            json!({"model": "echo/echo-tools", "messages": user, "tools": [weather_tool()], "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
            "tool_choice",
        ),
    ];
    for (body, param) in cases {
        let (status, answer) = chat(&server, &body).await;
        refused(status, &answer, param);
        if param != "tool_choice" {
            assert_eq!(answer["error"]["code"], "unsupported_parameter", "{answer}");
        }
    }
    // Accepted: what asks for nothing, and what the model declares.
    for body in [
        json!({"model": "echo/echo", "messages": user, "n": 1, "logprobs": false, "seed": 7, "store": false}),
        json!({"model": "echo/echo-tools", "messages": user, "tools": [weather_tool()], "tool_choice": "required", "parallel_tool_calls": false}),
    ] {
        let (status, answer) = chat(&server, &body).await;
        assert_eq!(status, 200, "{body} {answer}");
    }
}

#[tokio::test]
async fn tasks_take_the_same_features_and_keep_tool_calls_and_reasoning_in_their_result() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let tool = json!({"name": "get_weather", "parameters": {"type": "object",
                      "properties": {"city": {"type": "string"}}}});

    let (status, body) = server
        .post_task(&json!({"provider": "echo", "model": "echo", "prompt": "hi", "tools": [tool]}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    assert_eq!(body["error"]["param"], "tools", "{body}");
    let (status, body) = server
        .post_task(&json!({"provider": "echo", "model": "echo", "prompt": "hi",
                           "params": {"reasoning_effort": "high"}}))
        .await;
    assert_eq!(
        (status, &body["error"]["param"]),
        (422, &json!("params.reasoning_effort")),
        "{body}"
    );

    let id = server
        .submit(
            &json!({"provider": "echo", "model": "echo-tools", "prompt": "Oslo", "tools": [tool],
                        "params": {"tool_choice": {"name": "get_weather"}, "temperature": 0.9}}),
        )
        .await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["result"]["finish_reason"], "tool_calls", "{task}");
    assert_eq!(
        task["result"]["tool_calls"],
        json!([{"id": "call_echo_0", "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}])
    );
    assert_eq!(
        task["input"]["params"]["temperature"],
        json!(0.9),
        "floats round-trip as written"
    );

    let next = json!({"provider": "echo", "model": "echo-tools", "tools": [tool], "messages": [
        {"role": "user", "content": "Oslo"},
        {"role": "assistant", "tool_calls": task["result"]["tool_calls"]},
        {"role": "tool", "tool_call_id": "call_echo_0", "content": "rain"}]});
    let task = server
        .wait_until_finished(&server.submit(&next).await)
        .await;
    assert_eq!(
        task["result"]["text"], "get_weather answered: rain",
        "{task}"
    );

    let id = server
        .submit(
            &json!({"provider": "echo", "model": "echo-think", "prompt": "why",
                        "params": {"reasoning_effort": "low"}}),
        )
        .await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(
        task["result"]["reasoning"], "The user said \"why\"; echoing it (effort: low).",
        "{task}"
    );
    assert_eq!(task["result"]["usage"]["reasoning_tokens"], 8, "{task}");
}

#[tokio::test]
async fn embeddings_and_one_model_in_openai_shape() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let post = |body: Value| {
        let request = server
            .http
            .post(server.url("/v1/embeddings"))
            .json(&body)
            .send();
        async move {
            let response = request.await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, list) =
        post(json!({"model": "echo/echo-embed", "input": ["a b", "c"], "dimensions": 4})).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert_eq!(list["data"][1]["index"], 1);
    let floats = list["data"][0]["embedding"].as_array().unwrap().clone();
    assert_eq!(floats.len(), 4);
    assert_eq!(list["usage"]["prompt_tokens"], 3);
    // base64: the same vector as little-endian f32s.
    let (_, encoded) = post(
        json!({"model": "echo/echo-embed", "input": "a b", "dimensions": 4, "encoding_format": "base64"}),
    )
    .await;
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let decoded: Vec<f64> = bytes
        .chunks(4)
        .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
        .collect();
    let expected: Vec<f64> = floats.iter().map(|f| f.as_f64().unwrap()).collect();
    assert_eq!(decoded, expected);

    for (body, param) in [
        (json!({"model": "echo/echo", "input": "x"}), "model"),
        (
            json!({"model": "echo/echo-embed", "input": [[1, 2]]}),
            "input",
        ),
        (
            json!({"model": "echo/echo-embed", "input": "x", "user": "u"}),
            "user",
        ),
        (
            json!({"model": "echo/echo-embed", "input": "x", "encoding_format": "int8"}),
            "encoding_format",
        ),
        (
            json!({"model": "echo/echo-embed", "input": "x", "extra": 1}),
            "extra",
        ),
    ] {
        let (status, body) = post(body).await;
        refused(status, &body, param);
        assert_eq!(body["error"]["code"], "unsupported_parameter", "{body}");
    }

    let (status, model) = server.get_json("/v1/models/echo/echo-tools").await;
    assert_eq!(status, 200, "{model}");
    assert_eq!(model["id"], "echo/echo-tools");
    assert_eq!(model["object"], "model");
    let (status, missing) = server.get_json("/v1/models/echo/nope").await;
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["error"]["code"], "model_not_found", "{missing}");
}

/// Every request field of OpenAI's Chat Completions reference (35, as of
/// this writing), each sent to `echo/echo-tools`: answered (honoured, or
/// documented as accepted and ignored) or refused with a 400 naming it.
#[tokio::test]
async fn every_chat_completions_field_is_honoured_or_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let honoured = |field: &'static str, value: Value| (field, value, true);
    let refused_ = |field: &'static str, value: Value| (field, value, false);
    let fields = [
        honoured("messages", json!([{"role": "user", "content": "hi"}])),
        honoured("model", json!("echo/echo-tools")),
        honoured("stream", json!(false)),
        honoured("stream_options", json!({"include_usage": true})),
        honoured("max_tokens", json!(10)),
        honoured("max_completion_tokens", json!(10)),
        honoured("temperature", json!(0.9)),
        honoured("top_p", json!(0.5)),
        honoured("stop", json!(["x"])),
        honoured("tools", json!([weather_tool()])),
        honoured("tool_choice", json!("required")),
        honoured("parallel_tool_calls", json!(true)),
        honoured("response_format", json!({"type": "json_object"})),
        honoured("seed", json!(3)),
        honoured("metadata", json!({"k": "v"})),
        honoured("service_tier", json!("auto")),
        honoured("prompt_cache_key", json!("k")),
        honoured("prompt_cache_retention", json!("24h")),
        honoured("store", json!(false)),
        honoured("n", json!(1)),
        honoured("logprobs", json!(false)),
        honoured("modalities", json!(["text"])),
        // echo-tools declares none of these: refused, named.
        refused_("user", json!("someone")),
        refused_("safety_identifier", json!("someone")),
        refused_("presence_penalty", json!(0.5)),
        refused_("frequency_penalty", json!(0.5)),
        refused_("reasoning_effort", json!("low")),
        // llmhost honours none of these.
        refused_("top_logprobs", json!(2)),
        refused_("logit_bias", json!({"50256": -100})),
        refused_("audio", json!({"voice": "alloy", "format": "wav"})),
        refused_("verbosity", json!("low")),
        refused_("web_search_options", json!({})),
        refused_("prediction", json!({"type": "content", "content": "x"})),
        refused_("function_call", json!("auto")),
        refused_("functions", json!([{"name": "f"}])),
    ];
    assert_eq!(fields.len(), 35);
    for (field, value, ok) in fields {
        let mut body = json!({"model": "echo/echo-tools", "messages": [{"role": "user", "content": "hi"}],
                              "tools": [weather_tool()]});
        body[field] = value;
        let (status, answer) = chat(&server, &body).await;
        if ok {
            assert_eq!(status, 200, "{field}: {answer}");
        } else {
            refused(status, &answer, field);
            assert_eq!(
                answer["error"]["code"], "unsupported_parameter",
                "{field}: {answer}"
            );
        }
    }
}

/// The provider state of an answer (a vendor's signed reasoning) reaches
/// the client, and the client's assistant message carries it back to the
/// provider: `/v1` whole and streamed (an extension field on the message,
/// kept by the SDKs), and tasks (`result.provider_state`, then
/// `messages[].provider_state`). `echo-think` names the state it got back.
#[tokio::test]
async fn provider_state_goes_to_the_client_and_back_to_the_provider() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;

    let first = json!({"model": "echo/echo-think",
                       "messages": [{"role": "user", "content": "why"}]});
    let (status, body) = chat(&server, &first).await;
    assert_eq!(status, 200, "{body}");
    let message = body["choices"][0]["message"].clone();
    assert_eq!(message["provider_state"], "echo-think:why", "{body}");

    let chunks = chat_stream(
        &server,
        &json!({"model": "echo/echo-think", "stream": true,
        "messages": [{"role": "user", "content": "why"}]}),
    )
    .await;
    let streamed: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0)?["delta"].get("provider_state"))
        .collect();
    assert_eq!(streamed, [&json!("echo-think:why")], "{chunks:?}");

    // The message goes back as the answer had it.
    let next = json!({"model": "echo/echo-think", "messages": [
        {"role": "user", "content": "why"}, message,
        {"role": "user", "content": "and then?"}]});
    let (status, body) = chat(&server, &next).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"], "and then? (state given back: echo-think:why)",
        "{body}"
    );
    // Only an assistant message carries state.
    let (status, body) = chat(
        &server,
        &json!({"model": "echo/echo-think", "messages": [
        {"role": "user", "content": "why", "provider_state": "x"}]}),
    )
    .await;
    refused(status, &body, "messages[0].provider_state");

    let id = server
        .submit(&json!({"provider": "echo", "model": "echo-think", "prompt": "why"}))
        .await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(task["result"]["provider_state"], "echo-think:why", "{task}");
    let id = server
        .submit(
            &json!({"provider": "echo", "model": "echo-think", "messages": [
            {"role": "user", "content": "why"},
            {"role": "assistant", "content": task["result"]["text"],
             "provider_state": task["result"]["provider_state"]},
            {"role": "user", "content": "and then?"}]}),
        )
        .await;
    let task = server.wait_until_finished(&id).await;
    assert_eq!(
        task["result"]["text"], "and then? (state given back: echo-think:why)",
        "{task}"
    );
}

/// The model's reasoning reaches a `/v1` client where DeepSeek, vLLM and
/// LiteLLM put it (`message.reasoning_content`, `delta.reasoning_content`),
/// and usage carries the provider's cache and reasoning counts in OpenAI's
/// details (and in the task result). An assistant message sent back with
/// its reasoning is accepted; reasoning on another role is refused.
/// `echo-think` counts system words as cached, other earlier words as
/// cache writes.
#[tokio::test]
async fn reasoning_and_usage_details_reach_v1_clients_and_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let messages = json!([
        {"role": "system", "content": "be brief please"},
        {"role": "user", "content": "first turn"},
        {"role": "assistant", "content": "first turn"},
        {"role": "user", "content": "why"}]);
    let reasoning = "The user said \"why\"; echoing it (effort: low).";
    let body = json!({"model": "echo/echo-think", "messages": messages,
                      "reasoning_effort": "low"});
    let (status, answer) = chat(&server, &body).await;
    assert_eq!(status, 200, "{answer}");
    let message = &answer["choices"][0]["message"];
    assert_eq!(message["reasoning_content"], reasoning, "{answer}");
    assert_eq!(message["content"], "why", "{answer}");
    let usage = &answer["usage"];
    assert_eq!(
        usage["prompt_tokens_details"],
        json!({"cached_tokens": 3, "cache_write_tokens": 4}),
        "{answer}"
    );
    assert_eq!(
        usage["completion_tokens_details"],
        json!({"reasoning_tokens": 8}),
        "{answer}"
    );
    // Plain echo reports no details, and none are made up.
    let (_, plain) = chat(
        &server,
        &json!({"model": "echo/echo", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let plain_usage = plain["usage"].as_object().unwrap();
    assert!(
        !plain_usage.contains_key("prompt_tokens_details"),
        "{plain}"
    );
    assert!(
        !plain_usage.contains_key("completion_tokens_details"),
        "{plain}"
    );
    assert!(
        plain["choices"][0]["message"]
            .get("reasoning_content")
            .is_none()
    );

    let chunks = chat_stream(
        &server,
        &json!({"model": "echo/echo-think", "messages": messages, "stream": true,
                "reasoning_effort": "low", "stream_options": {"include_usage": true}}),
    )
    .await;
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0)?["delta"]["reasoning_content"].as_str())
        .collect();
    assert_eq!(streamed, reasoning, "{chunks:?}");
    let pieces = chunks
        .iter()
        .filter(|c| {
            c["choices"]
                .get(0)
                .is_some_and(|ch| ch["delta"].get("reasoning_content").is_some())
        })
        .count();
    assert!(pieces > 1, "reasoning streams in pieces: {chunks:?}");
    let last_usage = chunks
        .iter()
        .rev()
        .find_map(|c| c.get("usage").filter(|u| !u.is_null()));
    assert_eq!(last_usage, Some(usage), "{chunks:?}");

    // The answer goes back as it came, reasoning and all.
    let mut next = messages.as_array().unwrap().clone();
    next.push(message.clone());
    next.push(json!({"role": "user", "content": "and then?"}));
    let (status, body) = chat(
        &server,
        &json!({"model": "echo/echo-think", "messages": next}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for role in ["user", "system", "tool"] {
        let mut wrong = json!({"role": role, "content": "x", "reasoning_content": "mine"});
        if role == "tool" {
            wrong["tool_call_id"] = json!("call_1");
        }
        let (status, body) = chat(
            &server,
            &json!({"model": "echo/echo-think", "messages": [
                {"role": "user", "content": "hi"}, wrong]}),
        )
        .await;
        refused(status, &body, "messages[1].reasoning_content");
    }

    let id = server
        .submit(
            &json!({"provider": "echo", "model": "echo-think", "messages": messages,
                        "params": {"reasoning_effort": "low"}}),
        )
        .await;
    let task = server.wait_until_finished(&id).await;
    let result = &task["result"];
    assert_eq!(result["reasoning"], reasoning, "{task}");
    assert_eq!(
        (
            &result["usage"]["cached_input_tokens"],
            &result["usage"]["cache_write_input_tokens"],
            &result["usage"]["reasoning_tokens"]
        ),
        (&json!(3), &json!(4), &json!(8)),
        "{task}"
    );
}
