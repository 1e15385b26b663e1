//! The checks of what contract 0.2 added to an answer, in words a plugin
//! author reads: tool calls (exactly the expected ones, or any well-formed
//! call of an offered tool), JSON text, embeddings, and a stream's tool
//! calls, reasoning and refusal against the whole answer's.

use llmhost_runtime as runtime;
use llmhost_store::task::{TaskResult, ToolCall};
use serde_json::Value;

use super::cases::{Case, ExpectedCall};
use super::outcome::Outcome;
use super::upstream::bounded;

/// Every way a completion misses the case's tool-call and JSON
/// expectations; `answer_calls` are the calls its upstream answer must
/// produce.
pub(crate) fn completion(
    case: &Case,
    request: &runtime::Request,
    result: &TaskResult,
    answer_calls: Option<&[ExpectedCall]>,
) -> Vec<String> {
    let e = &case.expect;
    let mut problems = Vec::new();
    if let Some(want) = e.tool_calls.as_deref().or(answer_calls) {
        problems.extend(exact_calls(want, &result.tool_calls));
    }
    if e.calls_a_tool {
        problems.extend(offered_calls(request, &result.tool_calls));
    }
    if !e.json_keys.is_empty() {
        problems.extend(json_keys(&e.json_keys, &result.text));
    }
    problems
}

fn exact_calls(want: &[ExpectedCall], got: &[ToolCall]) -> Vec<String> {
    if want.len() != got.len() {
        return vec![format!(
            "expected {} tool call(s), the completion has {}",
            want.len(),
            got.len()
        )];
    }
    let mut problems = Vec::new();
    for (i, (want, got)) in want.iter().zip(got).enumerate() {
        if got.name != want.name {
            problems.push(format!(
                "tool call {i} should call {:?}, it calls {:?}",
                want.name, got.name
            ));
        }
        if let Some(id) = &want.id
            && &got.id != id
        {
            problems.push(format!(
                "tool call {i} should have the id {id:?} (the upstream's), it has {:?}",
                got.id
            ));
        }
        if let Some(arguments) = &want.arguments {
            match serde_json::from_str::<Value>(&got.arguments) {
                Ok(parsed) if &parsed == arguments => {}
                _ => problems.push(format!(
                    "tool call {i}'s arguments should be {arguments}, they are {}",
                    bounded(&got.arguments)
                )),
            }
        }
    }
    problems
}

fn offered_calls(request: &runtime::Request, got: &[ToolCall]) -> Vec<String> {
    if got.is_empty() {
        return vec!["expected a tool call; the completion calls none".into()];
    }
    let mut problems = Vec::new();
    for (i, call) in got.iter().enumerate() {
        if !request.tools.iter().any(|t| t.name == call.name) {
            problems.push(format!(
                "tool call {i} calls {:?}, which is not among the request's tools",
                call.name
            ));
        }
        if !serde_json::from_str::<Value>(&call.arguments).is_ok_and(|v| v.is_object()) {
            problems.push(format!(
                "tool call {i}'s arguments are not a JSON object: {}",
                bounded(&call.arguments)
            ));
        }
        if call.id.is_empty() {
            problems.push(format!(
                "tool call {i} has no id: a client's tool result names the call it answers \
                 by id, so make one up when your vendor gives none"
            ));
        }
    }
    problems
}

fn json_keys(keys: &[String], text: &str) -> Vec<String> {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
        return vec![format!(
            "the text should be a JSON object, it is {}",
            bounded(text)
        )];
    };
    keys.iter()
        .filter(|k| !object.contains_key(k.as_str()))
        .map(|k| format!("the JSON answer has no key {k:?}: {}", bounded(text)))
        .collect()
}

/// Every way an embeddings outcome misses the case.
pub(crate) fn embeddings(case: &Case, outcome: &Outcome, inputs: usize) -> Vec<String> {
    let Outcome::Embedded { lengths, .. } = outcome else {
        return vec!["expected embeddings".into()];
    };
    let mut problems = Vec::new();
    let want = case.expect.vectors.unwrap_or(inputs);
    if lengths.len() != want {
        problems.push(format!(
            "expected {want} vector(s), one per input, in order; got {}",
            lengths.len()
        ));
    }
    if lengths.contains(&0) || lengths.windows(2).any(|w| w[0] != w[1]) {
        problems.push(format!(
            "every vector must have the same, non-zero length; the lengths are {lengths:?}"
        ));
    }
    if let Some(dimensions) = case.expect.dimensions
        && lengths.iter().any(|&n| n != dimensions)
    {
        problems.push(format!(
            "every vector should have {dimensions} dimensions; the lengths are {lengths:?}"
        ));
    }
    problems
}

/// Arguments match word for word, or as JSON: a vendor that sends a whole
/// call's arguments as an object (re-serialised by the plugin) streams
/// them as the model wrote them, spacing and all.
fn same_arguments(whole: &ToolCall, stream: &ToolCall) -> bool {
    whole.arguments == stream.arguments
        || matches!(
            (
                serde_json::from_str::<Value>(&whole.arguments),
                serde_json::from_str::<Value>(&stream.arguments),
            ),
            (Ok(w), Ok(s)) if w == s
        )
}

/// How a streamed completion's tool calls, reasoning and refusal differ
/// from the whole one's (the text and finish reason are compared beside).
pub(crate) fn stream_matches(whole: &TaskResult, stream: &TaskResult) -> Vec<String> {
    let mut problems = Vec::new();
    let same = whole.tool_calls.len() == stream.tool_calls.len()
        && whole
            .tool_calls
            .iter()
            .zip(&stream.tool_calls)
            .all(|(w, s)| w.id == s.id && w.name == s.name && same_arguments(w, s));
    if !same {
        let show = |calls: &[ToolCall]| {
            calls
                .iter()
                .map(|c| format!("{} {}({})", c.id, c.name, c.arguments))
                .collect::<Vec<_>>()
                .join("; ")
        };
        problems.push(format!(
            "streaming assembled the tool calls {}, but complete gave {} (each call's \
             pieces share an index; the first names id and name, the arguments' fragments \
             concatenate to the whole arguments)",
            bounded(&show(&stream.tool_calls)),
            bounded(&show(&whole.tool_calls))
        ));
    }
    for (what, whole, stream) in [
        ("reasoning", &whole.reasoning, &stream.reasoning),
        ("refusal", &whole.refusal, &stream.refusal),
    ] {
        if whole != stream {
            let show = |t: &Option<String>| t.as_deref().map_or("none".into(), bounded);
            problems.push(format!(
                "streaming gave the {what} {}, but complete gave {}",
                show(stream),
                show(whole)
            ));
        }
    }
    problems
}
