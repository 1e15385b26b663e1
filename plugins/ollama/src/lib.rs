//! The `ollama` provider: Ollama's native chat API
//! (`POST {base_url}/api/chat`), whole (`"stream": false`) or streamed, and
//! embeddings (`POST {base_url}/api/embed`).
//!
//! Manifest `[config]`: `base_url` (default `http://127.0.0.1:11434`). Ollama
//! needs no credential; behind an authenticating proxy the manifest's
//! `[[secret]]` makes the host add one. Models are whatever the server has
//! pulled. Provider options are merged into the body's top level (e.g.
//! `keep_alive`; a field the request already sets is refused).

mod embeddings;
mod errors;
mod response;
mod stream;
mod wire;

use llmhost_plugin_sdk::answer::{capabilities, model, model_with};
use llmhost_plugin_sdk::embeddings_types::{EmbeddingsRequest, EmbeddingsResponse};
use llmhost_plugin_sdk::http::{self, Response};
use llmhost_plugin_sdk::types::{Completion, Features, ProviderError, ProviderInfo, Request};
use llmhost_plugin_sdk::vendor::HttpVendor;
use llmhost_plugin_sdk::{export_vendor, shared};

const DEFAULT_BASE_URL: &str = "http://127.0.0.1:11434";

struct Ollama;

impl HttpVendor for Ollama {
    const NAME: &'static str = wire::VENDOR;
    type Decoder = stream::LineDecoder;

    /// What the plugin sends to any model: tools (auto only), JSON output
    /// (object and schema), `think`, seed, penalties, inline images,
    /// provider options, embeddings. Whether a pulled model can use them is
    /// the server's answer.
    fn metadata() -> ProviderInfo {
        let features = Features::TOOLS
            | Features::JSON_OBJECT
            | Features::JSON_SCHEMA
            | Features::REASONING
            | Features::SEED
            | Features::PENALTIES
            | Features::PROVIDER_OPTIONS
            | Features::EMBEDDINGS;
        let embedding = capabilities(Features::EMBEDDINGS | Features::PROVIDER_OPTIONS, &[]);
        ProviderInfo {
            name: "ollama".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: env!("CARGO_PKG_DESCRIPTION").into(),
            models: vec![
                model("llama3.2", "any model the Ollama server has pulled works"),
                model("qwen2.5", "Ollama"),
                model("mistral", "Ollama"),
                model_with("all-minilm", "Ollama embeddings", embedding.clone()),
                model_with("nomic-embed-text", "Ollama embeddings", embedding),
            ],
            capabilities: capabilities(features, &["image/png", "image/jpeg"]),
        }
    }

    fn request(request: &Request, stream: bool) -> Result<http::Request, ProviderError> {
        let url = format!("{}/api/chat", shared::base_url(DEFAULT_BASE_URL));
        Ok(http::Request::post_json(
            url,
            wire::request_body(request, stream)?,
        ))
    }

    fn parse(request: &Request, body: &[u8]) -> Result<Completion, ProviderError> {
        response::parse_response(&request.model, body)
    }

    fn error(response: &Response) -> ProviderError {
        errors::error(response)
    }

    fn decoder(request: &Request) -> stream::LineDecoder {
        stream::LineDecoder::new(&request.model)
    }

    fn embeddings_request(request: &EmbeddingsRequest) -> Result<http::Request, ProviderError> {
        let url = format!("{}/api/embed", shared::base_url(DEFAULT_BASE_URL));
        Ok(http::Request::post_json(
            url,
            embeddings::request_body(request)?,
        ))
    }

    fn parse_embeddings(
        request: &EmbeddingsRequest,
        body: &[u8],
    ) -> Result<EmbeddingsResponse, ProviderError> {
        embeddings::parse(request, body)
    }
}

export_vendor!(Ollama);
