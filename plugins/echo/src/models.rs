//! What echo declares: its models and what each can do. Plain `echo` (and
//! the pacing and error models) declare `seed` alone (echo is deterministic,
//! so any seed is honoured); each feature model declares what it serves.

use crate::llmhost::provider::types::{Capabilities, Features, ModelInfo, ProviderInfo};

pub(crate) fn metadata() -> ProviderInfo {
    let agent = Features::SEED
        | Features::TOOLS
        | Features::TOOL_CHOICE
        | Features::PARALLEL_TOOL_CALLS
        | Features::JSON_OBJECT
        | Features::JSON_SCHEMA;
    ProviderInfo {
        name: "echo".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: env!("CARGO_PKG_DESCRIPTION").into(),
        models: vec![
            model("echo", "answers with the last user message", None),
            model(
                "echo-slow:<ms>",
                "waits <ms> milliseconds, then echoes",
                None,
            ),
            model(
                "echo-drip:<ms>",
                "streams word by word, <ms> milliseconds apart",
                None,
            ),
            model(
                "echo-error:<code>",
                "fails with the typed error <code>",
                None,
            ),
            model(
                "echo-tools",
                "calls the first offered tool (or the one tool_choice names) with arguments \
                 derived from the prompt; answers a tool result with `<tool> answered: <result>`; \
                 with a response format, answers as echo-json",
                Some(caps(agent, &[])),
            ),
            model(
                "echo-json",
                "answers valid JSON: for a json_schema, a value of that schema derived from the \
                 prompt; for json_object, the prompt if it is a JSON object, else {\"echo\": <prompt>}",
                Some(caps(
                    Features::SEED | Features::JSON_OBJECT | Features::JSON_SCHEMA,
                    &[],
                )),
            ),
            model(
                "echo-vision",
                "describes the image parts of the last user message (media type, size or URL)",
                Some(caps(Features::SEED | Features::MEDIA_URLS, &["image/*"])),
            ),
            model(
                "echo-think",
                "answers with the prompt, and with reasoning that names the reasoning effort; \
                 usage counts the system messages' words as cached input tokens and the other \
                 earlier messages' as cache writes; its provider state `echo-think:<prompt>`, handed back on an assistant message, is \
                 named in the answer: `<prompt> (state given back: …)`",
                Some(caps(Features::SEED | Features::REASONING, &[])),
            ),
            model(
                "echo-agent-drip",
                "echo-think's reasoning, then echo-tools' answer, streamed one piece every \
                 150 milliseconds (reasoning and text word by word, tool-call arguments 8 bytes \
                 at a time)",
                Some(caps(agent | Features::REASONING, &[])),
            ),
            model(
                "echo-embed",
                "fixed embeddings: 8 dimensions (or `dimensions`), the same vector for the same text",
                Some(caps(Features::EMBEDDINGS, &[])),
            ),
        ],
        capabilities: caps(Features::SEED, &[]),
    }
}

fn caps(features: Features, media: &[&str]) -> Capabilities {
    Capabilities {
        features,
        input_media: media.iter().map(|m| (*m).to_owned()).collect(),
    }
}

fn model(id: &str, description: &str, capabilities: Option<Capabilities>) -> ModelInfo {
    ModelInfo {
        id: id.into(),
        description: description.into(),
        capabilities,
        context_window: None,
    }
}
