//! The `ollama` provider: Ollama's native chat API
//! (`POST {base_url}/api/chat` with `"stream": false`).
//!
//! Manifest `[config]`: `base_url` (default `http://127.0.0.1:11434`). Ollama
//! needs no credential; behind an authenticating proxy the manifest's
//! `[[secret]]` makes the host add one. Models are whatever the server has
//! pulled.

mod wire;

use llmhost::provider::host::{LogLevel, log};
use llmhost::provider::types::{Completion, ModelInfo, ProviderError, ProviderInfo, Request};
use llmhost_plugin_sdk::bindings::exports::llmhost::provider::provider::Guest;
use llmhost_plugin_sdk::bindings::llmhost;
use llmhost_plugin_sdk::http;
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
        let url = format!("{}/api/chat", common::base_url(DEFAULT_BASE_URL));
        let body = wire::request_body(&request);
        log(LogLevel::Debug, &format!("POST {url}"));
        let response = http::send(&http::Request::post_json(url, body))
            .map_err(|e| common::transport_error(wire::VENDOR, e))?;
        wire::parse_response(&request.model, &response)
    }
}

llmhost_plugin_sdk::bindings::export_provider!(Ollama);
