//! The `gemini` provider: Google's Gemini API
//! (`POST {base_url}/models/{model}:generateContent`, streamed
//! `:streamGenerateContent?alt=sse`, embeddings `:batchEmbedContents`).
//!
//! Manifest `[config]`: `base_url` (default
//! `https://generativelanguage.googleapis.com/v1beta`). Provider options are
//! merged into the body's top level (into each embedding request for
//! embeddings). The credential (`x-goog-api-key`) is added by the host from
//! the manifest's `[[secret]]`; this plugin never sees or sets it.

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

const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

struct Gemini;

impl HttpVendor for Gemini {
    const NAME: &'static str = wire::VENDOR;
    type Decoder = stream::ChunkDecoder;

    /// Chat models get what the plugin sends: tools with choice, JSON
    /// output (object and schema), thinking, seed, penalties, inline
    /// images, provider options; no parallel switch, `user`, names or media
    /// URLs (the API has none). Any other model name may also embed.
    fn metadata() -> ProviderInfo {
        let chat = Features::TOOLS
            | Features::TOOL_CHOICE
            | Features::JSON_OBJECT
            | Features::JSON_SCHEMA
            | Features::REASONING
            | Features::SEED
            | Features::PENALTIES
            | Features::PROVIDER_OPTIONS;
        let images = [
            "image/png",
            "image/jpeg",
            "image/webp",
            "image/heic",
            "image/heif",
        ];
        let embedding = capabilities(Features::EMBEDDINGS | Features::PROVIDER_OPTIONS, &[]);
        ProviderInfo {
            name: "gemini".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: env!("CARGO_PKG_DESCRIPTION").into(),
            models: vec![
                model(
                    "gemini-2.5-flash",
                    "Google; any model name the API serves works",
                ),
                model("gemini-2.5-pro", "Google"),
                model("gemini-2.0-flash", "Google"),
                model_with("gemini-embedding-001", "Google embeddings", embedding),
            ],
            capabilities: capabilities(chat | Features::EMBEDDINGS, &images),
        }
    }

    /// The model's method, and for a stream its query.
    fn request(request: &Request, stream: bool) -> Result<http::Request, ProviderError> {
        let model = wire::model_path(&request.model)?;
        let method = if stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        let url = format!(
            "{}/models/{model}:{method}",
            shared::base_url(DEFAULT_BASE_URL)
        );
        Ok(http::Request::post_json(url, wire::request_body(request)?))
    }

    fn parse(request: &Request, body: &[u8]) -> Result<Completion, ProviderError> {
        response::parse_response(&request.model, body)
    }

    fn error(response: &Response) -> ProviderError {
        errors::error(response)
    }

    fn decoder(request: &Request) -> stream::ChunkDecoder {
        stream::ChunkDecoder::new(&request.model)
    }

    fn embeddings_request(request: &EmbeddingsRequest) -> Result<http::Request, ProviderError> {
        let model = wire::model_path(&request.model)?;
        let url = format!(
            "{}/models/{model}:batchEmbedContents",
            shared::base_url(DEFAULT_BASE_URL)
        );
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

export_vendor!(Gemini);
