//! The official `openai` Python SDK against `echo`'s feature models: a tool
//! round trip whole and streamed (the assistant message sent back as the
//! SDK returned it, its provider state with it), `parse` with a Pydantic
//! model, an image part
//! described back, embeddings, and `tools` to a model without them raising
//! `BadRequestError` whose `param` is `tools`.

use crate::harness::Server;
use crate::openai_compat::{python_lines, sdk_python};

const SCRIPT: &str = r#"
import sys, openai
from pydantic import BaseModel
client = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused")
tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
messages = [{"role": "user", "content": "Paris"}]
first = client.chat.completions.create(model="echo/echo-tools", messages=messages, tools=tools)
call = first.choices[0].message.tool_calls[0]
print("call", first.choices[0].finish_reason, call.function.name, call.function.arguments)
messages.append(first.choices[0].message)
messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny"})
second = client.chat.completions.create(model="echo/echo-tools", messages=messages, tools=tools)
print("answer", second.choices[0].message.content)
call_id, name, arguments = None, None, ""
for chunk in client.chat.completions.create(
        model="echo/echo-tools", messages=messages[:1], tools=tools, stream=True):
    for piece in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
        call_id = piece.id or call_id
        name = piece.function.name or name
        arguments += piece.function.arguments or ""
print("streamed", name, arguments)
streamed = messages[:1] + [
    {"role": "assistant", "tool_calls": [{"id": call_id, "type": "function",
                                          "function": {"name": name, "arguments": arguments}}]},
    {"role": "tool", "tool_call_id": call_id, "content": "rain"}]
text = "".join(chunk.choices[0].delta.content or "" for chunk in client.chat.completions.create(
    model="echo/echo-tools", messages=streamed, tools=tools, stream=True) if chunk.choices)
print("streamed answer", text)
think = [{"role": "user", "content": "why"}]
think += [client.chat.completions.create(model="echo/echo-think", messages=think).choices[0].message,
          {"role": "user", "content": "and then?"}]
print("state", client.chat.completions.create(model="echo/echo-think", messages=think).choices[0].message.content)
class Reply(BaseModel):
    city: str
    days: int
parse = getattr(client.chat.completions, "parse", None) or client.beta.chat.completions.parse
parsed = parse(model="echo/echo-json", messages=[{"role": "user", "content": "Oslo"}],
               response_format=Reply)
print("parsed", repr(parsed.choices[0].message.parsed))
image = client.chat.completions.create(model="echo/echo-vision", messages=[{"role": "user", "content": [
    {"type": "text", "text": "what?"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}])
print("image", image.choices[0].message.content)
embeddings = client.embeddings.create(model="echo/echo-embed", input=["a", "b"])
print("embeddings", len(embeddings.data), len(embeddings.data[0].embedding))
try:
    client.chat.completions.create(model="echo/echo", messages=messages[:1], tools=tools)
except openai.BadRequestError as error:
    print("refused", error.param, error.code)
"#;

#[tokio::test]
async fn the_official_openai_sdk_uses_tools_structured_output_images_and_embeddings() {
    let Some(python) = sdk_python().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let lines = python_lines(&python, SCRIPT, &[&server.base]).await;
    assert_eq!(
        lines,
        [
            r#"call tool_calls get_weather {"city":"Paris"}"#,
            "answer get_weather answered: sunny",
            r#"streamed get_weather {"city":"Paris"}"#,
            "streamed answer get_weather answered: rain",
            "state and then? (state given back: echo-think:why)",
            "parsed Reply(city='Oslo', days=1)",
            "image 1 image(s): image/png, 3 bytes. Text: what?",
            "embeddings 2 8",
            "refused tools unsupported_parameter",
        ]
    );
}
