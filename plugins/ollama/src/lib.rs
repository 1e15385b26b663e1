//! The `ollama` provider: Ollama's native chat API
//! (`POST {base_url}/api/chat`), whole (`"stream": false`) or streamed.
//!
//! Manifest `[config]`: `base_url` (default `http://127.0.0.1:11434`). Ollama
//! needs no credential; behind an authenticating proxy the manifest's
//! `[[secret]]` makes the host add one. Models are whatever the server has
//! pulled.

mod stream;
mod wire;

use llmhost_plugin_sdk::http::{self, Response};
use llmhost_plugin_sdk::types::{Completion, ModelInfo, ProviderError, ProviderInfo, Request};
use llmhost_plugin_sdk::vendor::HttpVendor;
use llmhost_plugin_sdk::{export_vendor, shared};

const DEFAULT_BASE_URL: &str = "http://127.0.0.1:11434";

struct Ollama;

impl HttpVendor for Ollama {
    const NAME: &'static str = wire::VENDOR;
    type Decoder = stream::LineDecoder;

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

    fn request(request: &Request, stream: bool) -> Result<http::Request, ProviderError> {
        let url = format!("{}/api/chat", shared::base_url(DEFAULT_BASE_URL));
        Ok(http::Request::post_json(
            url,
            wire::request_body(request, stream),
        ))
    }

    fn parse(request: &Request, body: &[u8]) -> Result<Completion, ProviderError> {
        wire::parse_response(&request.model, body)
    }

    fn error(response: &Response) -> ProviderError {
        wire::error(response)
    }

    fn decoder(request: &Request) -> stream::LineDecoder {
        stream::LineDecoder::new(&request.model)
    }
}

export_vendor!(Ollama);
