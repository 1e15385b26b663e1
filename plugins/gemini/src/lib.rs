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

use llmhost::provider::host::{LogLevel, log};
use llmhost::provider::types::{Completion, ModelInfo, ProviderError, ProviderInfo, Request};
use llmhost_plugin_sdk::bindings::exports::llmhost::provider::provider::Guest;
use llmhost_plugin_sdk::bindings::exports::llmhost::provider::streaming::{self, CompletionStream};
use llmhost_plugin_sdk::bindings::llmhost;
use llmhost_plugin_sdk::http;
use llmhost_plugin_sdk::stream::Pull;
use llmhost_plugin_sdk::vendor as common;

const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

struct Gemini;

impl Guest for Gemini {
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

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        let response = http::send(&outgoing(&request, "generateContent")?)
            .map_err(|e| common::transport_error(wire::VENDOR, e))?;
        wire::parse_response(&request.model, &response)
    }
}

impl streaming::Guest for Gemini {
    type CompletionStream = Pull<stream::ChunkDecoder>;

    fn start(request: Request) -> Result<CompletionStream, ProviderError> {
        let outgoing = outgoing(&request, "streamGenerateContent?alt=sse")?;
        let body = common::open_stream(wire::VENDOR, &outgoing, wire::error)?;
        let decoder = stream::ChunkDecoder::new(&request.model);
        Ok(Pull::start(wire::VENDOR, body, decoder))
    }
}

/// `method` is the model's method and its query.
fn outgoing(request: &Request, method: &str) -> Result<http::Request, ProviderError> {
    let model = wire::model_path(&request.model)?;
    let url = format!(
        "{}/models/{model}:{method}",
        common::base_url(DEFAULT_BASE_URL)
    );
    log(LogLevel::Debug, &format!("POST {url}"));
    Ok(http::Request::post_json(url, wire::request_body(request)))
}

llmhost_plugin_sdk::bindings::export_provider!(Gemini);
