//! The `openai` provider: Chat Completions (`POST {base_url}/chat/completions`),
//! whole or streamed (`"stream": true`), and Embeddings
//! (`POST {base_url}/embeddings`).
//!
//! `base_url` (manifest `[config]`, default `https://api.openai.com/v1`) makes
//! it serve any OpenAI-compatible server too: vLLM, llama.cpp's server,
//! Ollama's `/v1`, Groq, Together, OpenRouter. Optional `max_tokens_param`
//! (`max_tokens` by default) names the field that carries `max-tokens`; set it
//! to `max_completion_tokens` for OpenAI's reasoning models. A stream asks
//! for its usage (`stream_options.include_usage`) unless
//! `stream_include_usage` is `false`, for servers that refuse the option.
//! Provider options are merged into the body's top level (a field the
//! request already sets is refused). The credential
//! (`authorization: Bearer …`) is added by the host from the manifest's
//! `[[secret]]`; this plugin never sees or sets it.

mod embeddings;
mod errors;
mod response;
mod stream;
mod wire;

use llmhost_plugin_sdk::answer::{capabilities, model, model_with};
use llmhost_plugin_sdk::embeddings_types::{EmbeddingsRequest, EmbeddingsResponse};
use llmhost_plugin_sdk::host::config_get;
use llmhost_plugin_sdk::http::{self, Response};
use llmhost_plugin_sdk::types::{
    Capabilities, Completion, Features, ProviderError, ProviderInfo, Request,
};
use llmhost_plugin_sdk::vendor::HttpVendor;
use llmhost_plugin_sdk::{export_vendor, shared};

const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The image types the API takes.
const IMAGES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// What the plugin sends for every chat model.
fn chat() -> Features {
    Features::TOOLS
        | Features::TOOL_CHOICE
        | Features::PARALLEL_TOOL_CALLS
        | Features::JSON_OBJECT
        | Features::JSON_SCHEMA
        | Features::SEED
        | Features::PENALTIES
        | Features::USER
        | Features::NAMES
        | Features::MEDIA_URLS
        | Features::PROVIDER_OPTIONS
}

fn embedding() -> Capabilities {
    capabilities(
        Features::EMBEDDINGS | Features::USER | Features::PROVIDER_OPTIONS,
        &[],
    )
}

struct OpenAi;

impl HttpVendor for OpenAi {
    const NAME: &'static str = wire::VENDOR;
    type Decoder = stream::ChunkDecoder;

    /// Listed models declare what OpenAI does with them; any other name
    /// (a compatible server's model) may use everything the plugin sends.
    fn metadata() -> ProviderInfo {
        let reasoning = capabilities(chat() | Features::REASONING, IMAGES);
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
                model_with("o4-mini", "OpenAI, reasoning", reasoning.clone()),
                model_with("gpt-5-mini", "OpenAI, reasoning", reasoning),
                model_with("text-embedding-3-small", "OpenAI embeddings", embedding()),
                model_with("text-embedding-3-large", "OpenAI embeddings", embedding()),
            ],
            capabilities: capabilities(chat() | Features::REASONING | Features::EMBEDDINGS, IMAGES),
        }
    }

    fn request(request: &Request, stream: bool) -> Result<http::Request, ProviderError> {
        let url = format!("{}/chat/completions", shared::base_url(DEFAULT_BASE_URL));
        let max_tokens_param =
            config_get("max_tokens_param").unwrap_or_else(|| "max_tokens".to_owned());
        // Servers that refuse `stream_options` can be told not to get it.
        let options = wire::Options {
            max_tokens_param: &max_tokens_param,
            include_usage: config_get("stream_include_usage").as_deref() != Some("false"),
        };
        let body = wire::request_body(request, &options, stream)?;
        Ok(http::Request::post_json(url, body))
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
        let url = format!("{}/embeddings", shared::base_url(DEFAULT_BASE_URL));
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

export_vendor!(OpenAi);
