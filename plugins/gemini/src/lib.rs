//! The `gemini` provider: Google's Gemini API
//! (`POST {base_url}/models/{model}:generateContent`, streamed
//! `:streamGenerateContent?alt=sse`).
//!
//! Manifest `[config]`: `base_url` (default
//! `https://generativelanguage.googleapis.com/v1beta`). The credential
//! (`x-goog-api-key`) is added by the host from the manifest's `[[secret]]`;
//! this plugin never sees or sets it.

mod stream;
mod wire;

use llmhost_plugin_sdk::http::{self, Response};
use llmhost_plugin_sdk::types::{Completion, ModelInfo, ProviderError, ProviderInfo, Request};
use llmhost_plugin_sdk::vendor::HttpVendor;
use llmhost_plugin_sdk::{export_vendor, shared};

const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

struct Gemini;

impl HttpVendor for Gemini {
    const NAME: &'static str = wire::VENDOR;
    type Decoder = stream::ChunkDecoder;

    fn metadata() -> ProviderInfo {
        let model = |id: &str, description: &str| ModelInfo {
            id: id.into(),
            description: description.into(),
        };
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
            ],
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
        Ok(http::Request::post_json(url, wire::request_body(request)))
    }

    fn parse(request: &Request, body: &[u8]) -> Result<Completion, ProviderError> {
        wire::parse_response(&request.model, body)
    }

    fn error(response: &Response) -> ProviderError {
        wire::error(response)
    }

    fn decoder(request: &Request) -> stream::ChunkDecoder {
        stream::ChunkDecoder::new(&request.model)
    }
}

export_vendor!(Gemini);
