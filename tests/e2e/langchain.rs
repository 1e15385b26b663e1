//! LangChain's `ChatOpenAI` against llmhost's `/v1`: `bind_tools` gets a
//! tool call from `echo/echo-tools`, and `with_structured_output` returns a
//! Pydantic object with each of its three methods (`function_calling`,
//! `json_schema`, `json_mode`), never `None`.

use crate::harness::Server;
use crate::openai_compat::{python_lines, venv_python};

const SCRIPT: &str = r#"
import sys
from pydantic import BaseModel
from langchain_openai import ChatOpenAI

def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"

class Reply(BaseModel):
    """A reply."""
    city: str
    days: int

llm = ChatOpenAI(base_url=sys.argv[1] + "/v1", api_key="unused", model="echo/echo-tools")
call = llm.bind_tools([get_weather]).invoke("Paris").tool_calls[0]
print("tool", call["name"], call["args"])
for method in ["function_calling", "json_schema"]:
    print(method, repr(llm.with_structured_output(Reply, method=method).invoke("Oslo")))
# json_mode asks for any JSON object; echo-json answers one with the prompt
# when the prompt is one, as a model told the schema would.
mode = llm.with_structured_output(Reply, method="json_mode")
print("json_mode", repr(mode.invoke('{"city": "Rome", "days": 2}')))
"#;

#[tokio::test]
async fn langchain_binds_tools_and_gets_structured_output_three_ways() {
    let Some(python) = tokio::task::spawn_blocking(|| {
        venv_python("test-venv-langchain", &["langchain-openai>=0.3,<2"])
    })
    .await
    .unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let lines = python_lines(&python, SCRIPT, &[&server.base]).await;
    assert_eq!(
        lines,
        [
            "tool get_weather {'city': 'Paris'}",
            "function_calling Reply(city='Oslo', days=1)",
            "json_schema Reply(city='Oslo', days=1)",
            "json_mode Reply(city='Rome', days=2)",
        ]
    );
}
