//! Tools, structured output and images through the real provider plugins,
//! against local mocks in each vendor's wire format, driven as an OpenAI
//! SDK would drive `/v1/chat/completions`: a tool round trip (the model
//! calls `get_weather`, the client sends the result, the model answers),
//! whole and streamed, with the mock checking that the tools, the call and
//! the result reached it in the vendor's own shape; a streamed call's
//! fragments reassemble to the upstream's call; a JSON schema and an image
//! reach the upstream the vendor's way, and the JSON answer comes back.

use serde_json::{Value, json};

use crate::mock_vendors::{ANSWER, MockVendor, Recorded, STRUCTURED, Vendor};
use crate::provider_streams::Events;
use crate::providers::{post_chat, serve};

/// A PNG of one pixel, as a client sends it in a `data:` URL.
const PIXEL: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==";

fn tools() -> Value {
    json!([{"type": "function", "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    }}])
}

fn question() -> Value {
    json!({"role": "user", "content": "What is the weather in Paris?"})
}

/// The first turn of the round trip, as a client sends it.
fn first_turn(vendor: Vendor, stream: bool) -> Value {
    json!({
        "model": format!("{}/round-trip", vendor.plugin()),
        "messages": [question()],
        "tools": tools(),
        "stream": stream
    })
}

/// The call the mock's upstream makes, as `/v1` answers it: the id is the
/// vendor's, or the plugin's (`call_0`) when the vendor gives none.
fn expected_call(vendor: Vendor) -> (String, &'static str) {
    let id = match vendor {
        Vendor::OpenAi => "call_abc123",
        Vendor::Anthropic => "toolu_01A09q90qw90lq917835lq9",
        Vendor::Ollama | Vendor::Gemini => "call_0",
    };
    (id.to_owned(), "get_weather")
}

/// The tool call of a whole `/v1` answer.
fn whole_call(answer: &Value) -> (String, String, Value) {
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{answer}");
    let calls = choice["message"]["tool_calls"]
        .as_array()
        .expect("tool_calls");
    assert_eq!(calls.len(), 1, "{answer}");
    let call = &calls[0];
    assert_eq!(call["type"], "function", "{answer}");
    let arguments = call["function"]["arguments"]
        .as_str()
        .expect("arguments text");
    (
        call["id"].as_str().unwrap().to_owned(),
        call["function"]["name"].as_str().unwrap().to_owned(),
        serde_json::from_str(arguments).expect("the arguments are JSON"),
    )
}

/// The tool call of a streamed `/v1` answer, assembled from its
/// `delta.tool_calls` fragments as the OpenAI SDK does.
async fn streamed_call(response: reqwest::Response) -> (String, String, Value, usize) {
    let mut events = Events::new(response);
    let (mut id, mut name, mut arguments, mut fragments) =
        (String::new(), String::new(), String::new(), 0);
    let mut finish = None;
    while let Some((_, data)) = events.next().await {
        if data == "[DONE]" {
            break;
        }
        let chunk: Value = serde_json::from_str(&data).unwrap();
        let Some(choice) = chunk["choices"].get(0) else {
            continue;
        };
        if let Some(reason) = choice["finish_reason"].as_str() {
            finish = Some(reason.to_owned());
        }
        for piece in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert_eq!(piece["index"], 0, "one call: {chunk}");
            fragments += 1;
            if let Some(i) = piece["id"].as_str() {
                id.push_str(i);
            }
            if let Some(n) = piece["function"]["name"].as_str() {
                name.push_str(n);
            }
            arguments.push_str(piece["function"]["arguments"].as_str().unwrap_or_default());
        }
    }
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    let arguments = serde_json::from_str(&arguments).expect("assembled arguments are JSON");
    (id, name, arguments, fragments)
}

/// The second turn: the assistant's call and the tool's result.
fn second_turn(vendor: Vendor, id: &str, stream: bool) -> Value {
    json!({
        "model": format!("{}/round-trip", vendor.plugin()),
        "messages": [
            question(),
            {"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": id, "content": "22 degrees and sunny"}
        ],
        "tools": tools(),
        "stream": stream
    })
}

/// The tools, as the vendor's API takes them, reached the upstream.
fn assert_vendor_tools(vendor: Vendor, request: &Recorded) {
    let body = &request.body;
    let schema =
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    let tools = match vendor {
        Vendor::OpenAi | Vendor::Ollama => json!([{"type": "function", "function": {
            "name": "get_weather", "description": "The weather in a city", "parameters": schema}}]),
        Vendor::Anthropic => json!([{"name": "get_weather", "description": "The weather in a city",
            "input_schema": schema}]),
        Vendor::Gemini => json!([{"functionDeclarations": [{"name": "get_weather",
            "description": "The weather in a city", "parametersJsonSchema": schema}]}]),
    };
    assert_eq!(body["tools"], tools, "{body}");
}

/// The assistant's call and the tool's result, in the vendor's shape.
fn assert_vendor_result(vendor: Vendor, request: &Recorded, id: &str) {
    let body = &request.body;
    let result = "22 degrees and sunny";
    match vendor {
        Vendor::OpenAi => {
            let messages = &body["messages"];
            assert_eq!(messages[1]["tool_calls"][0]["id"], id, "{body}");
            assert_eq!(
                messages[2],
                json!({"role": "tool", "tool_call_id": id, "content": result}),
                "{body}"
            );
        }
        Vendor::Anthropic => {
            let messages = &body["messages"];
            assert_eq!(
                messages[1]["content"],
                json!([{"type": "tool_use", "id": id, "name": "get_weather", "input": {"city": "Paris"}}]),
                "{body}"
            );
            assert_eq!(
                messages[2],
                json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": id,
                    "content": [{"type": "text", "text": result}]}]}),
                "{body}"
            );
        }
        Vendor::Gemini => {
            let contents = &body["contents"];
            assert_eq!(
                contents[1],
                json!({"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}),
                "{body}"
            );
            assert_eq!(
                contents[2],
                json!({"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                    "response": {"result": result}}}]}),
                "{body}"
            );
        }
        Vendor::Ollama => {
            let messages = &body["messages"];
            assert_eq!(
                messages[1]["tool_calls"],
                json!([{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]),
                "{body}"
            );
            assert_eq!(
                messages[2],
                json!({"role": "tool", "content": result, "tool_name": "get_weather"}),
                "{body}"
            );
        }
    }
}

/// A tool round trip, whole and then streamed: the call comes back in
/// OpenAI's shape (streamed, in fragments that reassemble to it), the
/// result reaches the upstream in the vendor's, and the answer follows.
async fn a_tool_round_trip_reaches_the_upstream_in_its_own_shape(vendor: Vendor) {
    let mock = MockVendor::start(vendor).await;
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), vendor, &mock, "sk-tools").await;
    let (id, name) = expected_call(vendor);

    for stream in [false, true] {
        let context = format!("{} stream={stream}", vendor.plugin());
        let response = post_chat(&server, &first_turn(vendor, stream)).await;
        assert_eq!(response.status(), 200, "{context}");
        let (got_id, got_name, arguments) = if stream {
            let (got_id, got_name, arguments, fragments) = streamed_call(response).await;
            if vendor == Vendor::OpenAi || vendor == Vendor::Anthropic {
                assert!(
                    fragments > 1,
                    "{context}: the upstream sent the arguments in pieces"
                );
            }
            (got_id, got_name, arguments)
        } else {
            whole_call(&response.json().await.unwrap())
        };
        assert_eq!(
            (got_id.as_str(), got_name.as_str()),
            (id.as_str(), name),
            "{context}"
        );
        assert_eq!(arguments, json!({"city": "Paris"}), "{context}");

        let response = post_chat(&server, &second_turn(vendor, &got_id, false)).await;
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{context}: {answer}");
        assert_eq!(
            answer["choices"][0]["message"]["content"], ANSWER,
            "{context}"
        );
        assert_eq!(answer["choices"][0]["finish_reason"], "stop", "{context}");
    }
    let requests = mock.requests_for("round-trip");
    assert_eq!(requests.len(), 4, "two turns, whole and streamed");
    for (i, request) in requests.iter().enumerate() {
        assert_vendor_tools(vendor, request);
        if i % 2 == 1 {
            assert_vendor_result(vendor, request, &id);
        }
    }
}

/// A JSON schema and an image reach the upstream the vendor's way; the
/// upstream's JSON is the answer's content.
async fn a_schema_and_an_image_reach_the_upstream_in_its_own_shape(vendor: Vendor) {
    let mock = MockVendor::start(vendor).await;
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), vendor, &mock, "sk-structured").await;
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"},
        "celsius": {"type": "integer"}}, "required": ["city", "celsius"], "additionalProperties": false});
    let request = json!({
        "model": format!("{}/structured", vendor.plugin()),
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Where was this taken, and how warm is it?"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PIXEL}")}}
        ]}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "weather", "schema": schema}}
    });
    let response = post_chat(&server, &request).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["choices"][0]["message"]["content"], STRUCTURED,
        "{answer}"
    );

    let sent = mock.requests_for("structured");
    assert_eq!(sent.len(), 1);
    let body = &sent[0].body;
    match vendor {
        Vendor::OpenAi => {
            assert_eq!(
                body["response_format"],
                json!({"type": "json_schema", "json_schema": {"name": "weather", "schema": schema}}),
                "{body}"
            );
            assert_eq!(
                body["messages"][0]["content"][1],
                json!({"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PIXEL}")}}),
                "{body}"
            );
        }
        Vendor::Anthropic => {
            assert_eq!(
                body["output_config"],
                json!({"format": {"type": "json_schema", "schema": schema}}),
                "{body}"
            );
            assert_eq!(
                body["messages"][0]["content"][1],
                json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}),
                "{body}"
            );
        }
        Vendor::Gemini => {
            let config = &body["generationConfig"];
            assert_eq!(config["responseMimeType"], "application/json", "{body}");
            assert_eq!(config["responseJsonSchema"], schema, "{body}");
            assert_eq!(
                body["contents"][0]["parts"][1],
                json!({"inlineData": {"mimeType": "image/png", "data": PIXEL}}),
                "{body}"
            );
        }
        Vendor::Ollama => {
            assert_eq!(body["format"], schema, "{body}");
            assert_eq!(body["messages"][0]["images"], json!([PIXEL]), "{body}");
        }
    }
}

#[tokio::test]
async fn openai_tool_round_trip_whole_and_streamed() {
    a_tool_round_trip_reaches_the_upstream_in_its_own_shape(Vendor::OpenAi).await;
}

#[tokio::test]
async fn anthropic_tool_round_trip_whole_and_streamed() {
    a_tool_round_trip_reaches_the_upstream_in_its_own_shape(Vendor::Anthropic).await;
}

#[tokio::test]
async fn gemini_tool_round_trip_whole_and_streamed() {
    a_tool_round_trip_reaches_the_upstream_in_its_own_shape(Vendor::Gemini).await;
}

#[tokio::test]
async fn ollama_tool_round_trip_whole_and_streamed() {
    a_tool_round_trip_reaches_the_upstream_in_its_own_shape(Vendor::Ollama).await;
}

#[tokio::test]
async fn openai_structured_output_with_an_image() {
    a_schema_and_an_image_reach_the_upstream_in_its_own_shape(Vendor::OpenAi).await;
}

#[tokio::test]
async fn anthropic_structured_output_with_an_image() {
    a_schema_and_an_image_reach_the_upstream_in_its_own_shape(Vendor::Anthropic).await;
}

#[tokio::test]
async fn gemini_structured_output_with_an_image() {
    a_schema_and_an_image_reach_the_upstream_in_its_own_shape(Vendor::Gemini).await;
}

#[tokio::test]
async fn ollama_structured_output_with_an_image() {
    a_schema_and_an_image_reach_the_upstream_in_its_own_shape(Vendor::Ollama).await;
}
