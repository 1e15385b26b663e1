//! The `ollama` provider: Ollama's native chat API
//! (`POST {base_url}/api/chat`), whole (`"stream": false`) or streamed.
//!
//! Manifest `[config]`: `base_url` (default `http://127.0.0.1:11434`). Ollama
//! needs no credential; behind an authenticating proxy the manifest's
//! `[[secret]]` makes the host add one. Models are whatever the server has
//! pulled.

mod stream;
mod wire;

use llmhost::provider::host::{LogLevel, log};
use llmhost::provider::types::{Completion, ModelInfo, ProviderError, ProviderInfo, Request};
use llmhost_plugin_sdk::bindings::exports::llmhost::provider::provider::Guest;
use llmhost_plugin_sdk::bindings::exports::llmhost::provider::streaming::{self, CompletionStream};
use llmhost_plugin_sdk::bindings::llmhost;
use llmhost_plugin_sdk::http;
use llmhost_plugin_sdk::stream::Pull;
use llmhost_plugin_sdk::vendor as common;

const DEFAULT_BASE_URL: &str = "http://127.0.0.1:11434";

struct Ollama;

impl Guest for Ollama {
    fn metadata() -> ProviderInfo {
        let model = |id: &str, description: &str| ModelInfo {
            id: id.into(),
            description: description.into(),
        };
        ProviderInfo {
            name: "ollama".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: env!("CARGO_PKG_DESCRIPTION").into(),
            models: vec![
                model("llama3.2", "any model the Ollama server has pulled works"),
                model("qwen2.5", "Ollama"),
                model("mistral", "Ollama"),
            ],
        }
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        let response = http::send(&outgoing(&request, false))
            .map_err(|e| common::transport_error(wire::VENDOR, e))?;
        wire::parse_response(&request.model, &response)
    }
}

impl streaming::Guest for Ollama {
    type CompletionStream = Pull<stream::LineDecoder>;

    fn start(request: Request) -> Result<CompletionStream, ProviderError> {
        let body = common::open_stream(wire::VENDOR, &outgoing(&request, true), wire::error)?;
        let decoder = stream::LineDecoder::new(&request.model);
        Ok(Pull::start(wire::VENDOR, body, decoder))
    }
}

fn outgoing(request: &Request, stream: bool) -> http::Request {
    let url = format!("{}/api/chat", common::base_url(DEFAULT_BASE_URL));
    log(LogLevel::Debug, &format!("POST {url}"));
    http::Request::post_json(url, wire::request_body(request, stream))
}

llmhost_plugin_sdk::bindings::export_provider!(Ollama);
