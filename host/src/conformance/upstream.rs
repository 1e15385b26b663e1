//! Between a case's upstream script and the runtime's scripted upstream: the
//! exchanges the host will answer with (named answers resolved), and checks
//! of the requests the plugin actually made.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;

use super::cases::{Answer, Case, ExpectRequest, ExpectedCall, ReplyKind};
use llmhost_runtime::{Exchange, Reply, SeenRequest};

/// The runtime exchanges of `case`, or why they cannot be built. For a
/// streamed call, a named answer `X` is `X-stream` (the vendor's streaming
/// format) when there is one.
pub(crate) fn script(
    case: &Case,
    answers: &BTreeMap<String, Answer>,
    streamed: bool,
) -> Result<Vec<Exchange>, String> {
    case.upstream
        .iter()
        .map(|step| {
            let named = match &step.answer {
                Some(name) if streamed && answers.contains_key(&format!("{name}-stream")) => {
                    answers.get(&format!("{name}-stream"))
                }
                Some(name) => Some(answers.get(name).ok_or_else(|| missing_answer(name))?),
                None => None,
            };
            let status = step.status.or(named.map(|a| a.status)).unwrap_or(200);
            let mut headers = named.map(|a| a.headers.clone()).unwrap_or_default();
            headers.extend(step.headers.clone());
            let mut body = step
                .body
                .clone()
                .or_else(|| named.map(|a| a.body.clone()))
                .unwrap_or_default()
                .into_bytes();
            if step.truncate {
                body.truncate(body.len() / 2);
            }
            Ok(Exchange {
                status,
                headers: headers.into_iter().collect(),
                body: Bytes::from(body),
                reply: match step.reply {
                    ReplyKind::Complete => Reply::Complete,
                    ReplyKind::Hang => Reply::Hang,
                    ReplyKind::CutShort => Reply::CutShort,
                },
            })
        })
        .collect()
}

fn missing_answer(name: &str) -> String {
    format!(
        "this case needs your upstream's `{name}` answer, and no cases file defines it: \
         add [answer.{name}] (status, headers, body in your vendor's format, and the \
         text it must produce) to a .toml file in your cases directory (--cases DIR)"
    )
}

/// The completion text the case's upstream answers must produce, if they
/// name one.
pub(crate) fn expected_text(case: &Case, answers: &BTreeMap<String, Answer>) -> Option<String> {
    case.upstream
        .iter()
        .filter(|s| !s.truncate && s.reply == ReplyKind::Complete)
        .filter_map(|s| s.answer.as_ref().and_then(|n| answers.get(n)))
        .find_map(|a| a.text.clone())
}

/// The tool calls the case's upstream answers must produce, if they name
/// some.
pub(crate) fn expected_calls(
    case: &Case,
    answers: &BTreeMap<String, Answer>,
) -> Option<Vec<ExpectedCall>> {
    case.upstream
        .iter()
        .filter(|s| !s.truncate && s.reply == ReplyKind::Complete)
        .filter_map(|s| s.answer.as_ref().and_then(|n| answers.get(n)))
        .find_map(|a| a.tool_calls.clone())
}

/// A request the plugin made, as the report shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RequestSummary {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) allowed: bool,
    pub(crate) body_bytes: usize,
}

pub(crate) fn summarize(seen: &[SeenRequest]) -> Vec<RequestSummary> {
    seen.iter()
        .map(|r| RequestSummary {
            method: r.method.clone(),
            url: r.uri.clone(),
            allowed: r.allowed.is_ok(),
            body_bytes: r.body.len(),
        })
        .collect()
}

/// Requests to origins the manifest does not allow, in words.
pub(crate) fn outside_manifest(seen: &[SeenRequest]) -> Vec<String> {
    seen.iter()
        .filter_map(|r| r.allowed.as_ref().err().map(|why| (r, why)))
        .map(|(r, why)| {
            format!(
                "the plugin sent {} {}, but {why}; every origin a plugin talks to \
                 must be in its manifest's [egress] allow list",
                r.method, r.uri
            )
        })
        .collect()
}

/// How the first request differs from what the case expects.
pub(crate) fn check_request(expect: &ExpectRequest, seen: &[SeenRequest]) -> Vec<String> {
    let Some(first) = seen.first() else {
        return vec!["expected the plugin to send a request upstream; it sent none".into()];
    };
    let mut problems = Vec::new();
    if let Some(method) = &expect.method
        && !first.method.eq_ignore_ascii_case(method)
    {
        problems.push(format!(
            "expected a {method} request, the plugin sent {}",
            first.method
        ));
    }
    let path = first
        .uri
        .parse::<http::Uri>()
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    if let Some(want) = &expect.path
        && &path != want
    {
        problems.push(format!(
            "expected the path {want}, the plugin requested {path}"
        ));
    }
    for (name, want) in &expect.headers {
        let got = first
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        if got != Some(want.as_str()) {
            problems.push(format!(
                "expected the header {name}: {want}, the plugin sent {}",
                got.map_or("none".to_owned(), |v| format!("{name}: {v}"))
            ));
        }
    }
    let body = String::from_utf8_lossy(&first.body);
    for needle in &expect.body_contains {
        if !body.contains(needle.as_str()) {
            problems.push(format!(
                "expected the request body to contain {needle:?}; it was {}",
                bounded(&body)
            ));
        }
    }
    problems
}

/// At most 300 characters of `text`, for messages.
pub(crate) fn bounded(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(300).collect();
    if chars.next().is_some() {
        format!("{head:?}… ({} bytes)", text.len())
    } else {
        format!("{head:?}")
    }
}
