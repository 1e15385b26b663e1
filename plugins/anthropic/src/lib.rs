//! The `anthropic` provider: the Messages API (`POST {base_url}/messages`),
//! whole or streamed (`"stream": true`).
//!
//! Manifest `[config]`: `base_url` (default `https://api.anthropic.com/v1`),
//! `anthropic_version` (default `2023-06-01`), `default_max_tokens` (the
//! API requires `max_tokens`; default 1024). The credential (`x-api-key`) is
//! added by the host from the manifest's `[[secret]]`; this plugin never sees
//! or sets it.

mod stream;
mod wire;

use llmhost::provider::host::{LogLevel, config_get, log};
use llmhost::provider::types::{Completion, ModelInfo, ProviderError, ProviderInfo, Request};
use llmhost_plugin_sdk::bindings::exports::llmhost::provider::provider::Guest;
use llmhost_plugin_sdk::bindings::exports::llmhost::provider::streaming::{self, CompletionStream};
use llmhost_plugin_sdk::bindings::llmhost;
use llmhost_plugin_sdk::http;
use llmhost_plugin_sdk::stream::Pull;
use llmhost_plugin_sdk::vendor as common;

const DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";
const DEFAULT_VERSION: &str = "2023-06-01";

struct Anthropic;

impl Guest for Anthropic {
    fn metadata() -> ProviderInfo {
        let model = |id: &str, description: &str| ModelInfo {
            id: id.into(),
            description: description.into(),
        };
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
        }
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        let response = http::send(&outgoing(&request, false))
            .map_err(|e| common::transport_error(wire::VENDOR, e))?;
        wire::parse_response(&request.model, &response)
    }
}

impl streaming::Guest for Anthropic {
    type CompletionStream = Pull<stream::EventDecoder>;

    fn start(request: Request) -> Result<CompletionStream, ProviderError> {
        let body = common::open_stream(wire::VENDOR, &outgoing(&request, true), wire::error)?;
        let decoder = stream::EventDecoder::new(&request.model);
        Ok(Pull::start(wire::VENDOR, body, decoder))
    }
}

fn outgoing(request: &Request, stream: bool) -> http::Request {
    let url = format!("{}/messages", common::base_url(DEFAULT_BASE_URL));
    let default_max_tokens = config_get("default_max_tokens")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(wire::DEFAULT_MAX_TOKENS);
    let version = config_get("anthropic_version").unwrap_or_else(|| DEFAULT_VERSION.into());
    let body = wire::request_body(request, default_max_tokens, stream);
    log(LogLevel::Debug, &format!("POST {url}"));
    http::Request::post_json(url, body).header("anthropic-version", &version)
}

llmhost_plugin_sdk::bindings::export_provider!(Anthropic);
