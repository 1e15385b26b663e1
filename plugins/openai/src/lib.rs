//! The `openai` provider: Chat Completions (`POST {base_url}/chat/completions`),
//! whole or streamed (`"stream": true`).
//!
//! `base_url` (manifest `[config]`, default `https://api.openai.com/v1`) makes
//! it serve any OpenAI-compatible server too: vLLM, llama.cpp's server,
//! Ollama's `/v1`, Groq, Together, OpenRouter. Optional `max_tokens_param`
//! (`max_tokens` by default) names the field that carries `max-tokens`; set it
//! to `max_completion_tokens` for OpenAI's reasoning models. A stream asks
//! for its usage (`stream_options.include_usage`) unless
//! `stream_include_usage` is `false`, for servers that refuse the option.
//! The credential (`authorization: Bearer …`) is added by the host from the
//! manifest's `[[secret]]`; this plugin never sees or sets it.

mod stream;
mod wire;

use llmhost_plugin_sdk::host::config_get;
use llmhost_plugin_sdk::http::{self, Response};
use llmhost_plugin_sdk::types::{Completion, ModelInfo, ProviderError, ProviderInfo, Request};
use llmhost_plugin_sdk::vendor::HttpVendor;
use llmhost_plugin_sdk::{export_vendor, shared};

const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

struct OpenAi;

impl HttpVendor for OpenAi {
    const NAME: &'static str = wire::VENDOR;
    type Decoder = stream::ChunkDecoder;

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

    fn request(request: &Request, stream: bool) -> Result<http::Request, ProviderError> {
        let url = format!("{}/chat/completions", shared::base_url(DEFAULT_BASE_URL));
        let max_tokens_param =
            config_get("max_tokens_param").unwrap_or_else(|| "max_tokens".to_owned());
        // Servers that refuse `stream_options` can be told not to get it.
        let usage = stream && config_get("stream_include_usage").as_deref() != Some("false");
        let body = wire::request_body(request, &max_tokens_param, stream, usage);
        Ok(http::Request::post_json(url, body))
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

export_vendor!(OpenAi);
