//! The `anthropic` provider: the Messages API (`POST {base_url}/messages`),
//! whole or streamed (`"stream": true`).
//!
//! Manifest `[config]`: `base_url` (default `https://api.anthropic.com/v1`),
//! `anthropic_version` (default `2023-06-01`), `default_max_tokens` (the
//! API requires `max_tokens`; default 1024; a reasoning effort's thinking
//! budget is added to it). The credential (`x-api-key`) is
//! added by the host from the manifest's `[[secret]]`; this plugin never sees
//! or sets it.

mod errors;
mod response;
mod stream;
mod wire;

use llmhost_plugin_sdk::answer::{capabilities, model};
use llmhost_plugin_sdk::host::config_get;
use llmhost_plugin_sdk::http::{self, Response};
use llmhost_plugin_sdk::types::{Completion, Features, ProviderError, ProviderInfo, Request};
use llmhost_plugin_sdk::vendor::HttpVendor;
use llmhost_plugin_sdk::{export_vendor, shared};

const DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";
const DEFAULT_VERSION: &str = "2023-06-01";

struct Anthropic;

impl HttpVendor for Anthropic {
    const NAME: &'static str = wire::VENDOR;
    type Decoder = stream::EventDecoder;

    /// Every model gets what the plugin sends: tools (with choice and the
    /// parallel switch), JSON schemas (`output_config`), thinking, `user`,
    /// images by bytes or URL, provider options. No seed, penalties,
    /// names or JSON-object mode: the API has none.
    fn metadata() -> ProviderInfo {
        let features = Features::TOOLS
            | Features::TOOL_CHOICE
            | Features::PARALLEL_TOOL_CALLS
            | Features::JSON_SCHEMA
            | Features::REASONING
            | Features::USER
            | Features::MEDIA_URLS
            | Features::PROVIDER_OPTIONS;
        let images = ["image/png", "image/jpeg", "image/gif", "image/webp"];
        ProviderInfo {
            name: "anthropic".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: env!("CARGO_PKG_DESCRIPTION").into(),
            models: vec![
                model(
                    "claude-sonnet-4-5",
                    "Anthropic; any model name the API serves works",
                ),
                model("claude-haiku-4-5", "Anthropic"),
                model("claude-opus-4-1", "Anthropic"),
            ],
            capabilities: capabilities(features, &images),
        }
    }

    fn request(request: &Request, stream: bool) -> Result<http::Request, ProviderError> {
        let url = format!("{}/messages", shared::base_url(DEFAULT_BASE_URL));
        let default_max_tokens = config_get("default_max_tokens")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(wire::DEFAULT_MAX_TOKENS);
        let version = config_get("anthropic_version").unwrap_or_else(|| DEFAULT_VERSION.into());
        let body = wire::request_body(request, default_max_tokens, stream)?;
        Ok(http::Request::post_json(url, body).header("anthropic-version", &version))
    }

    fn parse(request: &Request, body: &[u8]) -> Result<Completion, ProviderError> {
        response::parse_response(&request.model, body)
    }

    fn error(response: &Response) -> ProviderError {
        errors::error(response)
    }

    fn decoder(request: &Request) -> stream::EventDecoder {
        stream::EventDecoder::new(&request.model)
    }
}

export_vendor!(Anthropic);
