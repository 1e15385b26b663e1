//! Conformance cases as data: the built-in ones embedded in the binary, and
//! a plugin's own from its cases directory (`*.toml`, each with `[[case]]`
//! entries and `[answer.<name>]` upstream answers that cases refer to).
//! Parsing errors name the file and the key. A case's request has the task
//! API's shape (messages, tools, params), so it reads as a client writes it.

use std::collections::BTreeMap;
use std::path::Path;

use llmhost_store::task::{Message, Params, Tool};
use serde::Deserialize;

/// The built-in cases, in the order they run.
const BUILT_IN: [(&str, &str); 4] = [
    ("basics.toml", include_str!("cases/basics.toml")),
    ("http.toml", include_str!("cases/http.toml")),
    ("robustness.toml", include_str!("cases/robustness.toml")),
    ("features.toml", include_str!("cases/features.toml")),
];

/// The most a case's prompt may expand to: far above any request a client
/// could submit, and small enough that building it cannot fail.
const MAX_PROMPT_BYTES: usize = 64 << 20;

/// One file of cases and answers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[serde(default, rename = "case")]
    cases: Vec<Case>,
    #[serde(default, rename = "answer")]
    answers: BTreeMap<String, Answer>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Case {
    pub(crate) name: String,
    /// One line: what the case checks.
    pub(crate) about: String,
    /// Advice for a plugin author whose plugin fails the case.
    #[serde(default)]
    pub(crate) hint: Option<String>,
    #[serde(default)]
    pub(crate) needs: Needs,
    #[serde(default)]
    pub(crate) kind: Kind,
    /// The host's first-byte timeout for this case (default: the manifest's).
    #[serde(default)]
    pub(crate) first_byte_timeout_ms: Option<u64>,
    #[serde(default)]
    pub(crate) request: CaseRequest,
    /// The upstream's answers, in order; the last one answers any further
    /// request too.
    #[serde(default)]
    pub(crate) upstream: Vec<Exchange>,
    #[serde(default)]
    pub(crate) expect: Expect,
    /// Where the case came from: `built-in` or its file.
    #[serde(skip)]
    pub(crate) source: String,
}

/// Which plugins a case applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Needs {
    #[default]
    Any,
    /// The manifest allows some egress.
    Egress,
    /// The plugin exports the `streaming` interface.
    Streaming,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    /// One `complete` call.
    #[default]
    Complete,
    /// The same call twice; both answers must be equal.
    Repeat,
    /// `complete` (checked against `expect`), then `streaming.start` on the
    /// same request, whose events, assembled, must match the completion
    /// word for word: text, reasoning, refusal, tool calls (id, name,
    /// arguments) and finish reason, or the same error.
    Stream,
    /// One `embeddings.embed` call with `request.inputs`.
    Embed,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseRequest {
    /// Default: the first model the plugin lists.
    pub(crate) model: Option<String>,
    /// Short for one user message.
    pub(crate) prompt: Option<String>,
    /// A long user message: `text` repeated `times` times.
    pub(crate) prompt_repeat: Option<Repeat>,
    /// As the task API takes them: `content` a string or parts
    /// (`image_url` with an `https:` or `data:` URL), `tool_calls`,
    /// `tool_call_id`.
    #[serde(default)]
    pub(crate) messages: Vec<Message>,
    /// As the task API takes them; the case runs on the first model that
    /// declares what the request uses.
    #[serde(default)]
    pub(crate) tools: Vec<Tool>,
    #[serde(default)]
    pub(crate) params: Params,
    /// For `kind = "embed"`: the texts to embed.
    #[serde(default)]
    pub(crate) inputs: Vec<String>,
    /// For `kind = "embed"`.
    pub(crate) dimensions: Option<u32>,
    /// The call's deadline (default 10 s).
    pub(crate) timeout_ms: Option<u64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Repeat {
    pub(crate) text: String,
    pub(crate) times: usize,
}

/// One scripted upstream answer: written out, or a named `[answer.<name>]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Exchange {
    /// A named answer from the cases directory, e.g. `success`.
    pub(crate) answer: Option<String>,
    pub(crate) status: Option<u16>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Option<String>,
    /// `complete` (default), `hang` (no first byte) or `cut-short` (the
    /// connection drops mid-body).
    #[serde(default)]
    pub(crate) reply: ReplyKind,
    /// Sends the first half of the body as if it were all of it.
    #[serde(default)]
    pub(crate) truncate: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ReplyKind {
    #[default]
    Complete,
    Hang,
    CutShort,
}

/// A named upstream answer, with the text the plugin must extract from it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Answer {
    #[serde(default = "ok")]
    pub(crate) status: u16,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: String,
    /// The completion text this answer must produce.
    pub(crate) text: Option<String>,
    /// The tool calls this answer must produce.
    pub(crate) tool_calls: Option<Vec<ExpectedCall>>,
}

/// A tool call that must come back.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectedCall {
    /// Not checked when absent (some vendors give calls no ids).
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    /// Compared as JSON (key order and spacing do not matter); not checked
    /// when absent.
    pub(crate) arguments: Option<serde_json::Value>,
}

fn ok() -> u16 {
    200
}

/// What must come back. Unset fields are not checked.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expect {
    /// A completion (with the answer's `text`, when it names one).
    #[serde(default)]
    pub(crate) completes: bool,
    /// Exactly this text.
    pub(crate) text: Option<String>,
    /// `stop`, `length`, `content_filter`, `tool_calls` or `other`.
    pub(crate) finish_reason: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) input_tokens: Option<u32>,
    pub(crate) output_tokens: Option<u32>,
    /// This error code (one of the task `error_code`s).
    pub(crate) error: Option<String>,
    pub(crate) retry_after_ms: Option<u64>,
    /// A completion or a typed provider error, never a host failure.
    #[serde(default)]
    pub(crate) never_traps: bool,
    /// The call ends within this many milliseconds.
    pub(crate) within_ms: Option<u64>,
    /// What the plugin's first request must look like.
    pub(crate) request: Option<ExpectRequest>,
    /// Exactly these tool calls, in order.
    pub(crate) tool_calls: Option<Vec<ExpectedCall>>,
    /// At least one tool call, each naming one of the request's tools with
    /// arguments that are a JSON object (what any model's call looks like).
    #[serde(default)]
    pub(crate) calls_a_tool: bool,
    /// The text is a JSON object with (at least) these keys.
    #[serde(default)]
    pub(crate) json_keys: Vec<String>,
    /// The host refuses the request before any call, naming this field
    /// (OpenAI's `param`): the case runs on the first model that does not
    /// declare what the request uses, and is not applicable when every
    /// model declares it.
    pub(crate) refused: Option<String>,
    /// `kind = "embed"`: this many vectors, all of one length.
    pub(crate) vectors: Option<usize>,
    /// `kind = "embed"`: each vector's length.
    pub(crate) dimensions: Option<usize>,
    /// `kind = "stream"`: at least this many tool-call pieces came (the
    /// arguments arrived in fragments and were reassembled).
    pub(crate) tool_call_pieces_at_least: Option<usize>,
    /// `kind = "stream"`: at least this many text events came (the text
    /// was streamed in pieces, not gathered into one).
    pub(crate) text_pieces_at_least: Option<usize>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectRequest {
    pub(crate) method: Option<String>,
    /// The URL path, e.g. `/v1/chat/completions`.
    pub(crate) path: Option<String>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// Strings the body must contain.
    #[serde(default)]
    pub(crate) body_contains: Vec<String>,
}

/// Every case to run (built-in first) and every named answer.
#[derive(Debug, Default)]
pub(crate) struct Suite {
    pub(crate) cases: Vec<Case>,
    pub(crate) answers: BTreeMap<String, Answer>,
}

impl Suite {
    /// The built-in cases, plus every `*.toml` in `dir` (sorted by name).
    pub(crate) fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut suite = Self::default();
        for (name, text) in BUILT_IN {
            suite.add(&format!("built-in {name}"), text)?;
        }
        let Some(dir) = dir else {
            return Ok(suite);
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("cases directory {}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            suite.add(&path.display().to_string(), &text)?;
        }
        Ok(suite)
    }

    fn add(&mut self, source: &str, text: &str) -> anyhow::Result<()> {
        let file: CaseFile = toml::from_str(text).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
        for mut case in file.cases {
            if let Some(repeat) = &case.request.prompt_repeat {
                let size = repeat.text.len().checked_mul(repeat.times);
                anyhow::ensure!(
                    size.is_some_and(|size| size <= MAX_PROMPT_BYTES),
                    "{source}: case {:?}: prompt_repeat would be more than {MAX_PROMPT_BYTES} bytes",
                    case.name
                );
            }
            anyhow::ensure!(
                !self.cases.iter().any(|c| c.name == case.name),
                "{source}: a case named {:?} exists already",
                case.name
            );
            case.source = source.to_owned();
            self.cases.push(case);
        }
        for (name, answer) in file.answers {
            anyhow::ensure!(
                !self.answers.contains_key(&name),
                "{source}: an answer named {name:?} exists already"
            );
            self.answers.insert(name, answer);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_cases_parse_and_have_unique_names() {
        let suite = Suite::load(None).unwrap();
        assert!(suite.cases.len() >= 15, "{}", suite.cases.len());
        assert!(suite.cases.iter().all(|c| c.hint.is_some()));
    }

    #[test]
    fn a_prompt_repeated_past_what_memory_holds_is_refused_when_loaded() {
        for times in [i64::MAX as usize, MAX_PROMPT_BYTES] {
            let text = format!(
                "[[case]]\nname = \"x\"\nabout = \"y\"\n\
                 request.prompt_repeat = {{ text = \"ab\", times = {times} }}\n"
            );
            let err = Suite::default().add("mine.toml", &text).unwrap_err();
            assert!(err.to_string().contains("prompt_repeat"), "{err}");
        }
    }

    #[test]
    fn a_bad_case_file_is_named_with_its_key() {
        let err = Suite::default()
            .add(
                "mine.toml",
                "[[case]]\nname = \"x\"\nabout = \"y\"\nbogus = 1\n",
            )
            .unwrap_err();
        assert!(err.to_string().contains("mine.toml"), "{err}");
        assert!(err.to_string().contains("bogus"), "{err}");
    }
}
