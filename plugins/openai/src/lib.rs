//! The `openai` provider: Chat Completions (`POST {base_url}/chat/completions`).
//!
//! `base_url` (manifest `[config]`, default `https://api.openai.com/v1`) makes
//! it serve any OpenAI-compatible server too: vLLM, llama.cpp's server,
//! Ollama's `/v1`, Groq, Together, OpenRouter. Optional `max_tokens_param`
//! (`max_tokens` by default) names the field that carries `max-tokens`; set it
//! to `max_completion_tokens` for OpenAI's reasoning models. The credential
//! (`authorization: Bearer …`) is added by the host from the manifest's
//! `[[secret]]`; this plugin never sees or sets it.

mod wire;

use llmhost::provider::host::{LogLevel, config_get, log};
use llmhost::provider::types::{Completion, ModelInfo, ProviderError, ProviderInfo, Request};
use llmhost_plugin_sdk::bindings::exports::llmhost::provider::provider::Guest;
use llmhost_plugin_sdk::bindings::llmhost;
use llmhost_plugin_sdk::http;
use llmhost_plugin_sdk::vendor as common;

const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

struct OpenAi;

impl Guest for OpenAi {
    fn metadata() -> ProviderInfo {
        let model = |id: &str, description: &str| ModelInfo {
            id: id.into(),
            description: description.into(),
        };
        ProviderInfo {
            name: "openai".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: env!("CARGO_PKG_DESCRIPTION").into(),
            models: vec![
                model(
                    "gpt-4o-mini",
                    "OpenAI; any model name the upstream serves works",
                ),
                model("gpt-4o", "OpenAI"),
                model("gpt-4.1", "OpenAI"),
            ],
        }
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        let url = format!("{}/chat/completions", common::base_url(DEFAULT_BASE_URL));
        let max_tokens_param =
            config_get("max_tokens_param").unwrap_or_else(|| "max_tokens".to_owned());
        let body = wire::request_body(&request, &max_tokens_param);
        log(LogLevel::Debug, &format!("POST {url}"));
        let response = http::send(&http::Request::post_json(url, body))
            .map_err(|e| common::transport_error(wire::VENDOR, e))?;
        wire::parse_response(&request.model, &response)
    }
}

llmhost_plugin_sdk::bindings::export_provider!(OpenAi);
