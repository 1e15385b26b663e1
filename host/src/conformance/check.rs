//! Whether a plugin's answer meets a case, in words a plugin author reads:
//! the checks of metadata, of each expectation and of streaming against
//! `complete` (`features.rs` has those of tool calls, JSON and embeddings).

use std::collections::BTreeSet;
use std::time::Duration;

use super::cases::Case;
use super::outcome::Outcome;
use super::report::CaseResult;
use super::upstream::bounded;
use llmhost_runtime::{ProviderInfo, SeenRequest};

/// The expectation in words, for the report.
pub(crate) fn describe_expected(case: &Case, text: Option<&str>) -> String {
    let e = &case.expect;
    let mut parts = Vec::new();
    if let Some(field) = &e.refused {
        parts.push(format!(
            "the host's refusal naming {field}, before any call of the plugin"
        ));
    }
    if let Some(calls) = &e.tool_calls {
        let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        parts.push(format!("the tool call(s) {}", names.join(", ")));
    }
    if e.calls_a_tool {
        parts.push("a call of an offered tool with JSON object arguments".into());
    }
    if !e.json_keys.is_empty() {
        parts.push(format!("a JSON object with {}", e.json_keys.join(", ")));
    }
    match (e.vectors, e.dimensions) {
        (Some(vectors), Some(dimensions)) => {
            parts.push(format!("{vectors} vector(s) of {dimensions} dimensions"));
        }
        (Some(vectors), None) => parts.push(format!("{vectors} vector(s) of one length")),
        (None, Some(dimensions)) => parts.push(format!("vectors of {dimensions} dimensions")),
        (None, None) => {}
    }
    if let Some(code) = &e.error {
        let retry = e
            .retry_after_ms
            .map(|ms| format!(" (retry after {ms} ms)"))
            .unwrap_or_default();
        parts.push(format!("the error {code}{retry}"));
    }
    let text = e.text.as_deref().or(text.filter(|_| e.completes));
    if let Some(text) = text {
        parts.push(format!("a completion with the text {}", bounded(text)));
    } else if e.completes {
        parts.push("a completion with some text".into());
    }
    if e.never_traps {
        parts.push("a completion or a typed provider error, never a trap".into());
    }
    if let Some(ms) = e.within_ms {
        parts.push(format!("within {ms} ms"));
    }
    if let Some(least) = e.text_pieces_at_least {
        parts.push(format!("streamed, the text in at least {least} pieces"));
    }
    if let Some(least) = e.tool_call_pieces_at_least {
        parts.push(format!(
            "streamed, the tool calls in at least {least} pieces"
        ));
    }
    if parts.is_empty() {
        "anything".into()
    } else {
        parts.join(", ")
    }
}

/// Every way `outcome` misses the case's expectations.
pub(crate) fn expectations(
    case: &Case,
    outcome: &Outcome,
    elapsed: Duration,
    answer_text: Option<&str>,
) -> Vec<String> {
    let e = &case.expect;
    let mut problems = Vec::new();
    if let Some(want) = &e.error {
        match outcome.error() {
            Some(got) if got.code.as_str() == want => {
                if let Some(ms) = e.retry_after_ms
                    && got.retry_after_ms != Some(ms)
                {
                    problems.push(format!(
                        "the retry-after delay should be {ms} ms, it was {}",
                        got.retry_after_ms
                            .map_or("not given".into(), |g| format!("{g} ms"))
                    ));
                }
            }
            _ => problems.push(format!("expected the error {want}")),
        }
    }
    let want_text = e.text.as_deref().or(answer_text);
    if e.completes || e.text.is_some() {
        match outcome {
            Outcome::Completed(r) => {
                if let Some(want) = want_text
                    && r.text != want
                {
                    problems.push(format!(
                        "the text should be {}, it was {}",
                        bounded(want),
                        bounded(&r.text)
                    ));
                } else if want_text.is_none() && r.text.is_empty() {
                    problems.push("the completion's text is empty".into());
                }
            }
            _ => problems.push("expected a completion".into()),
        }
    }
    if let Outcome::Completed(r) = outcome {
        let checks = [
            (
                "finish reason",
                e.finish_reason.clone(),
                Some(r.finish_reason.clone()),
            ),
            ("model", e.model.clone(), Some(r.model.clone())),
            (
                "input tokens",
                e.input_tokens.map(|n| n.to_string()),
                r.usage.map(|u| u.input_tokens.to_string()),
            ),
            (
                "output tokens",
                e.output_tokens.map(|n| n.to_string()),
                r.usage.map(|u| u.output_tokens.to_string()),
            ),
        ];
        for (what, want, got) in checks {
            if let Some(want) = want
                && got.as_deref() != Some(want.as_str())
            {
                problems.push(format!(
                    "the {what} should be {want}, it was {}",
                    got.unwrap_or_else(|| "not reported".into())
                ));
            }
        }
    }
    if e.never_traps && matches!(outcome, Outcome::HostFailure(_)) {
        problems.push("the call must end in a completion or a typed provider error".into());
    }
    if let Some(ms) = e.within_ms
        && elapsed > Duration::from_millis(ms)
    {
        problems.push(format!(
            "the call took {} ms, more than {ms} ms",
            elapsed.as_millis()
        ));
    }
    problems
}

/// The provider's metadata: well-formed, and its name the expected one.
pub(crate) fn metadata(info: &ProviderInfo, name: &str) -> CaseResult {
    let mut result = CaseResult::named(
        "metadata",
        "metadata is well-formed and names the provider as its file does",
        "`metadata` must return the provider's name (equal to the manifest's and the \
         .wasm file's name), its semver version, a description and at least one model, \
         each with a distinct non-empty id.",
    );
    let mut problems = Vec::new();
    if info.name != name {
        problems.push(format!(
            "the provider calls itself {:?}, but it is installed as {name:?} \
             ({name}.wasm, {name}.toml): the host refuses a provider whose name differs \
             from its file's",
            info.name
        ));
    }
    if semver::Version::parse(&info.version).is_err() {
        problems.push(format!(
            "the version {:?} is not semver (like 1.2.3)",
            info.version
        ));
    }
    if info.description.trim().is_empty() {
        problems.push("the description is empty".into());
    }
    if info.models.is_empty() {
        problems
            .push("no models are listed: list at least the one clients should try first".into());
    }
    let mut ids = BTreeSet::new();
    for model in &info.models {
        if model.id.trim().is_empty() {
            problems.push("a model has an empty id".into());
        } else if !ids.insert(model.id.as_str()) {
            problems.push(format!("the model id {:?} is listed twice", model.id));
        }
    }
    let got = format!(
        "name {:?}, version {:?}, {} model(s): {}",
        info.name,
        info.version,
        info.models.len(),
        info.models
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    result.conclude(
        format!("name {name:?}, a semver version, models"),
        got,
        problems,
    );
    result
}

/// Over every case: no request went outside the manifest.
pub(crate) fn egress_summary(seen: &[SeenRequest], has_egress: bool) -> CaseResult {
    let mut result = CaseResult::named(
        "egress-within-manifest",
        "every request went to an origin the manifest allows",
        "Build every URL from your manifest's [config] (base_url) and list its origin in \
         [egress] allow; never call other hosts (telemetry, fallbacks).",
    );
    let outside = super::upstream::outside_manifest(seen);
    let got = format!(
        "{} request(s), {} outside the manifest",
        seen.len(),
        outside.len()
    );
    if !has_egress && seen.is_empty() {
        result.conclude("no request outside the manifest".into(), got, Vec::new());
        return result;
    }
    result.conclude("no request outside the manifest".into(), got, outside);
    result
}

/// What a stream sent, as it came.
#[derive(Debug, Default)]
pub(crate) struct Streamed {
    /// The text events, in order.
    pub(crate) texts: Vec<String>,
    /// How many tool-call events came.
    pub(crate) tool_call_pieces: usize,
}

/// How a streamed answer differs from the whole one (`complete`).
pub(crate) fn stream_matches(
    case: &Case,
    complete: &Outcome,
    streamed: &Outcome,
    events: &Streamed,
) -> Vec<String> {
    let deltas = &events.texts;
    let mut problems = Vec::new();
    match (complete, streamed) {
        (Outcome::Completed(whole), Outcome::Completed(stream)) => {
            if whole.text != stream.text {
                problems.push(format!(
                    "streaming gave the text {}, but complete gave {}",
                    bounded(&stream.text),
                    bounded(&whole.text)
                ));
            }
            if whole.finish_reason != stream.finish_reason {
                problems.push(format!(
                    "streaming ended with the finish reason {}, complete with {}",
                    stream.finish_reason, whole.finish_reason
                ));
            }
            let joined: String = deltas.concat();
            if joined != stream.text {
                problems.push(format!(
                    "the text events, joined, are {}, not the streamed answer's text",
                    bounded(&joined)
                ));
            }
            problems.extend(super::features::stream_matches(whole, stream));
            if let Some(least) = case.expect.text_pieces_at_least
                && deltas.len() < least
            {
                problems.push(format!(
                    "expected the text in at least {least} pieces (pass each piece on as it \
                     comes, rather than the whole text at the end), got {}",
                    deltas.len()
                ));
            }
            if let Some(least) = case.expect.tool_call_pieces_at_least
                && events.tool_call_pieces < least
            {
                problems.push(format!(
                    "expected the tool calls in at least {least} pieces (the upstream \
                     streams the arguments in fragments: pass each on as it comes), \
                     got {}",
                    events.tool_call_pieces
                ));
            }
        }
        (whole, stream) if whole != stream => problems.push(format!(
            "streaming ended in {}, but complete in {}",
            stream.describe(),
            whole.describe()
        )),
        _ => {}
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmhost_store::task::TaskResult;

    fn answer(text: &str) -> Outcome {
        Outcome::Completed(TaskResult {
            text: text.into(),
            finish_reason: "stop".into(),
            usage: None,
            model: "m".into(),
            tool_calls: vec![],
            reasoning: None,
            refusal: None,
            response_id: None,
            provider_state: None,
        })
    }

    #[test]
    fn a_stream_in_fewer_pieces_than_the_case_asks_fails_saying_how_many_came() {
        let case: Case = toml::from_str(
            "name = \"pieces\"\nabout = \"x\"\nkind = \"stream\"\n\
             [expect]\ntext_pieces_at_least = 3\ntool_call_pieces_at_least = 1\n",
        )
        .unwrap();
        let whole = answer("a b c");
        let pieces = |texts: &[&str], tool_call_pieces| Streamed {
            texts: texts.iter().map(|t| (*t).to_owned()).collect(),
            tool_call_pieces,
        };
        let in_pieces = pieces(&["a ", "b ", "c"], 1);
        assert_eq!(
            stream_matches(&case, &whole, &whole, &in_pieces),
            Vec::<String>::new()
        );
        let problems = stream_matches(&case, &whole, &whole, &pieces(&["a b c"], 0));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("at least 3 pieces") && problems[0].ends_with("got 1"));
        assert!(problems[1].contains("at least 1 pieces") && problems[1].ends_with("got 0"));
        let expected = describe_expected(&case, None);
        assert!(
            expected.contains("the text in at least 3 pieces"),
            "{expected}"
        );
    }
}
